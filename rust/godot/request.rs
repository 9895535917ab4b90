//! Conversions of the upgrade request to Godot types.

use godot::prelude::*;

use crate::core::UpgradeRequest;

/// Request headers as a Dictionary: names in lower case, repeated headers joined with ", ".
pub fn headers_dict<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> VarDictionary {
    let mut dict = VarDictionary::new();
    for (name, value) in headers {
        let key = name.to_ascii_lowercase();
        let joined = match dict.get(key.as_str()) {
            Some(old) => format!("{}, {value}", old.to::<GString>()),
            None => value.to_string(),
        };
        dict.set(key.as_str(), joined.as_str());
    }
    dict
}

/// The Dictionary that `upgrade_requested` hands to the game.
pub fn request_dict(request: &UpgradeRequest) -> VarDictionary {
    let mut query = VarDictionary::new();
    for (k, v) in request.query() {
        query.set(k.as_str(), v.as_str());
    }
    let offered: PackedStringArray = request.offered.iter().map(GString::from).collect();
    let mut dict = VarDictionary::new();
    dict.set("path", request.path.split('?').next().unwrap_or("/"));
    dict.set("query", &query);
    let headers = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    dict.set("headers", &headers_dict(headers));
    dict.set("address", request.remote_ip().as_str());
    dict.set("port", i64::from(request.remote.port()));
    dict.set("protocols", &offered);
    dict.set("protocol", request.protocol.as_str());
    dict.set("returning", request.returning.map_or(0, i64::from));
    dict
}
