//! HTML form bodies (`application/x-www-form-urlencoded`), read as name–value pairs so a
//! field may repeat (the scope checkboxes) and a missing field is the page's to explain.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use caravan_core::ApiError;
use caravan_core::error::RequestError;
use futures_util::future::LocalBoxFuture;

/// The fields of a submitted form.
#[derive(Debug, Default)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(field, _)| field == name).map(|(_, value)| value.as_str())
    }

    /// The value of `name`, or the empty string.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(field, _)| field == name).map(|(_, value)| value.as_str())
    }
}

impl FromRequest for FormFields {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_form {
                return Err(RequestError::Refused {
                    kind: caravan_core::ErrorKind::UnsupportedMediaType,
                    reason: "a portal form is sent as application/x-www-form-urlencoded",
                }
                .into());
            }
            let body = body.await.map_err(|_| RequestError::PayloadTooLarge { limit: None })?;
            Ok(Self::parse(&body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_all_kept_in_order() {
        let fields = FormFields::parse(b"name=ci+key&scope=registry%3Aread&scope=usage%3Aread&csrf=abc");
        assert_eq!(fields.get("name"), Some("ci key"));
        assert_eq!(fields.all("scope").collect::<Vec<_>>(), ["registry:read", "usage:read"]);
        assert_eq!(fields.text("missing"), "");
    }
}
