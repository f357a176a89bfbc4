-- Paces each wrk connection to one request every 2 ms on average, so `-c N` offers about
-- N × 500 requests/s: an open, fixed load instead of wrk's usual "as fast as possible".
-- The pause is 1, 2 or 3 ms at random: independent clients do not send in step, and a
-- fixed pause keeps every connection firing in the same millisecond, a burst of N
-- requests at once that a fixed rate of real traffic does not make.
function delay()
  return math.random(1, 3)
end
