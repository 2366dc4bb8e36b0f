//! Adyen's standard webhooks (payment notifications): every `NotificationRequestItem` in
//! `notificationItems` carries `additionalData.hmacSignature`, base64 HMAC-SHA256 under the
//! hex HMAC key of `pspReference:originalReference:merchantAccountCode:merchantReference:
//! value:currency:eventCode:success` (absent fields as empty text), as Adyen's libraries
//! compute it (`HmacValidator.getDataToSign` in `@adyen/api-library`).

use super::super::engine::any_match;
use super::super::{Algorithm, DeliveryIdentity, Encoding, Key, Rejection, Tag, Verified};
use http::HeaderName;
use serde_json::Value;

/// What 401 answers name: the field inside each notification.
pub(crate) static FIELD: HeaderName = HeaderName::from_static("additionaldata.hmacsignature");

/// Adyen batches a few notifications at most; more is not a delivery.
const MAX_ITEMS: usize = 1000;

/// Checks every notification in the body; the first one's signature identifies the delivery
/// (Adyen retries with the same signed content).
pub(crate) fn verify(json: &Value, keys: &[Key]) -> Result<Verified, Rejection> {
    let mut first = None;
    for item in items(json)? {
        let signature = item["additionalData"]["hmacSignature"]
            .as_str()
            .filter(|text| !text.is_empty())
            .ok_or(Rejection::MissingField {
                field: "additionalData.hmacSignature",
            })?;
        let offered =
            Encoding::Base64.decode_signature(&FIELD, signature, Algorithm::HmacSha256)?;
        let message = signed_text(item)?;
        let computed: Vec<Tag> = keys
            .iter()
            .filter_map(Key::as_mac)
            .map(|mac| mac.tag_of(&[message.as_bytes()]))
            .collect();
        let tag =
            any_match(&computed, std::slice::from_ref(&offered)).ok_or(Rejection::Mismatch)?;
        first.get_or_insert(tag);
    }
    let tag = first.ok_or(Rejection::MissingField {
        field: "notificationItems",
    })?;
    Ok(Verified {
        identity: DeliveryIdentity::Signature(tag),
    })
}

/// Writes `additionalData.hmacSignature` into every notification of `body`, signed with the
/// hex `secret`: what Adyen sends, for `hookwall sign` and tests.
pub(crate) fn sign(body: &[u8], secret: &[u8]) -> Result<Vec<u8>, String> {
    let key = Key::from_secret(Algorithm::HmacSha256, super::super::KeyForm::Hex, secret)
        .map_err(|err| err.to_string())?;
    let mac = key.as_mac().ok_or("not an HMAC key")?;
    let mut json: Value = serde_json::from_slice(body)
        .map_err(|_| "the body is not JSON; Adyen notifications are".to_string())?;
    let count = items(&json).map_err(|err| err.to_string())?.len();
    for index in 0..count {
        let item = &mut json["notificationItems"][index]["NotificationRequestItem"];
        let text = signed_text(item).map_err(|err| err.to_string())?;
        let signature = Encoding::Base64.encode(mac.tag_of(&[text.as_bytes()]).as_bytes());
        if !item["additionalData"].is_object() {
            item["additionalData"] = Value::Object(Default::default());
        }
        item["additionalData"]["hmacSignature"] = Value::String(signature);
    }
    serde_json::to_vec(&json).map_err(|err| err.to_string())
}

fn items(json: &Value) -> Result<Vec<&Value>, Rejection> {
    let missing = Rejection::MissingField {
        field: "notificationItems[].NotificationRequestItem",
    };
    let list = json["notificationItems"]
        .as_array()
        .ok_or(missing.clone())?;
    if list.is_empty() || list.len() > MAX_ITEMS {
        return Err(missing);
    }
    list.iter()
        .map(|entry| {
            let item = &entry["NotificationRequestItem"];
            if item.is_object() {
                Ok(item)
            } else {
                Err(missing.clone())
            }
        })
        .collect()
}

/// The eight fields joined by `:`, each written as JavaScript's `Array.join` writes it.
fn signed_text(item: &Value) -> Result<String, Rejection> {
    let fields = [
        &item["pspReference"],
        &item["originalReference"],
        &item["merchantAccountCode"],
        &item["merchantReference"],
        &item["amount"]["value"],
        &item["amount"]["currency"],
        &item["eventCode"],
        &item["success"],
    ];
    let texts: Result<Vec<String>, Rejection> = fields.into_iter().map(as_text).collect();
    Ok(texts?.join(":"))
}

fn as_text(value: &Value) -> Result<String, Rejection> {
    let malformed = |detail: &'static str| Rejection::BadFormat {
        header: FIELD.clone(),
        detail: detail.into(),
    };
    Ok(match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(whole), _) => whole.to_string(),
            (_, Some(whole)) => whole.to_string(),
            // Amounts are in minor units: whole numbers.
            _ => return Err(malformed("amount.value is not a whole number")),
        },
        Value::Array(_) | Value::Object(_) => {
            return Err(malformed("a signed field is not text or a number"));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Adyen's "Verify HMAC signatures" page (build your own solution):
    /// its notification and HMAC key sign to coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=.
    #[test]
    fn adyens_documented_example_verifies() {
        let key = Key::from_secret(
            Algorithm::HmacSha256,
            crate::signature::KeyForm::Hex,
            b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
        )
        .unwrap();
        let body = serde_json::json!({"live": "false", "notificationItems": [{"NotificationRequestItem": {
            "additionalData": {"hmacSignature": "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="},
            "amount": {"currency": "EUR", "value": 1130},
            "eventCode": "AUTHORISATION",
            "merchantAccountCode": "TestMerchant",
            "merchantReference": "TestPayment-1407325143704",
            "pspReference": "7914073381342284",
            "success": "true",
        }}]});
        assert!(verify(&body, std::slice::from_ref(&key)).is_ok());
        let mut tampered = body.clone();
        tampered["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] =
            serde_json::json!(1);
        assert_eq!(verify(&tampered, &[key]).unwrap_err(), Rejection::Mismatch);
    }

    #[test]
    fn absent_fields_are_empty_and_numbers_are_digits() {
        let item = serde_json::json!({
            "pspReference": "7914073381342284",
            "merchantAccountCode": "TestMerchant",
            "merchantReference": "TestPayment-1407325143704",
            "amount": {"value": 1130, "currency": "EUR"},
            "eventCode": "AUTHORISATION",
            "success": "true",
        });
        assert_eq!(
            signed_text(&item).unwrap(),
            "7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true"
        );
    }
}
