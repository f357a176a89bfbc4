//! `JsonObject<T>`: a JSON request body that must be an object. serde builds a struct
//! from an array of its fields, in order, as readily as from an object — `[null, null]`
//! would be an empty tenant update — which no client means and the OpenAPI document does
//! not allow. Everything else (size limit, content type, problem+json refusals) is
//! `web::Json`'s, configured by `error::json_config`.

use crate::ApiError;
use crate::error::RequestError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = body.await?.into_inner();
            if !value.is_object() {
                let refusal = RequestError::InvalidJson("the body must be a JSON object".to_owned());
                return Err(ApiError::from(refusal).into());
            }
            serde_json::from_value(value)
                .map(JsonObject)
                .map_err(|error| ApiError::from(RequestError::InvalidJson(error.to_string())).into())
        })
    }
}
