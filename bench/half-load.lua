-- Paces each wrk connection to one request every 2 ms, so `-c N` offers N × 500
-- requests/s: an open, fixed load instead of wrk's usual "as fast as possible".
function delay()
  return 2
end
