//! How the core's errors reach GDScript: a Godot `Error` code, plus a message for
//! `push_error` that says what to do.

use std::time::Duration;

use godot::global::Error as GdError;

use crate::core::{Buffers, Error, SendError};

/// The Godot `Error` code for a core error.
pub fn error_code(e: &Error) -> GdError {
    match e {
        Error::AlreadyListening => GdError::ERR_ALREADY_IN_USE,
        Error::NotListening => GdError::ERR_UNCONFIGURED,
        Error::InvalidAddress(_) | Error::InvalidParameter(_) | Error::Tls(_) => {
            GdError::ERR_INVALID_PARAMETER
        }
        Error::Bind { .. } => GdError::ERR_CANT_CREATE,
        Error::Busy(_) => GdError::FAILED,
        Error::UnknownPeer(_) | Error::UnknownRequest(_) => GdError::ERR_DOES_NOT_EXIST,
        Error::AlreadyDecided(_) => GdError::ERR_ALREADY_IN_USE,
    }
}

/// The Godot `Error` code for a failed send, as Godot's `put_packet` returns it.
pub fn send_error_code(e: &SendError) -> GdError {
    match e {
        SendError::Closed => GdError::FAILED,
        SendError::TooLarge { .. } | SendError::BufferFull { .. } => GdError::ERR_OUT_OF_MEMORY,
        SendError::InvalidUtf8 => GdError::ERR_INVALID_DATA,
    }
}

/// Reports an error to Godot (`push_error`) and returns its code.
pub fn report(context: &str, e: &Error) -> GdError {
    godot::global::godot_error!("{context}: {e}");
    error_code(e)
}

/// Reports a failed send to Godot (`push_error`) and returns its code.
pub fn report_send(context: &str, e: &SendError) -> GdError {
    godot::global::godot_error!("{context}: {e}");
    send_error_code(e)
}

/// A port number from GDScript's int, or the error to report.
pub fn port(value: i64) -> Result<u16, Error> {
    u16::try_from(value).map_err(|_| {
        Error::InvalidParameter(format!(
            "port {value} is out of range; use 0 to 65535 (0 picks a free port)"
        ))
    })
}

/// A close code from GDScript's int, or the error to report.
pub fn close_code(value: i64) -> Result<u16, Error> {
    u16::try_from(value).map_err(|_| {
        Error::InvalidParameter(format!(
            "close code {value} is out of range; use 1000 (normal) or 3000-4999"
        ))
    })
}

/// A positive, finite number of seconds (at most a day) from GDScript's float.
pub fn seconds(value: f64, name: &str) -> Result<Duration, Error> {
    if value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Error::InvalidParameter(format!(
            "{name} is {value}; it must be a number of seconds above 0 and at most 86400"
        )))
    }
}

/// As [`seconds`], with 0 for "off".
pub fn seconds_or_off(value: f64, name: &str) -> Result<Duration, Error> {
    if value == 0.0 {
        Ok(Duration::ZERO)
    } else {
        seconds(value, &format!("{name} (0 turns it off)"))
    }
}

/// A count limit from GDScript's int (0 for no limit).
pub fn count(value: i64, name: &str) -> Result<usize, Error> {
    usize::try_from(value).map_err(|_| {
        Error::InvalidParameter(format!(
            "{name} is {value}; use 0 for no limit or a positive number"
        ))
    })
}

/// A peer id from GDScript's int (ids are int32).
/// Godot 3's `set_buffers(in_kb, in_packets, out_kb, out_packets)`: sizes in KiB, every
/// value between 1 and its maximum, rounded up to a power of two.
pub fn buffers(
    in_kb: i64,
    in_packets: i64,
    out_kb: i64,
    out_packets: i64,
) -> Result<Buffers, Error> {
    let max_kb = (Buffers::MAX_BYTES / 1024) as i64;
    let max_packets = Buffers::MAX_PACKETS as i64;
    let check = |name: &str, v: i64, max: i64| {
        if v <= 0 || v > max {
            Err(Error::InvalidParameter(format!(
                "set_buffers: {name} is {v}; it must be between 1 and {max}"
            )))
        } else {
            Ok((v as usize).next_power_of_two())
        }
    };
    Ok(Buffers {
        in_bytes: check("in_kb", in_kb, max_kb)? * 1024,
        in_packets: check("in_packets", in_packets, max_packets)?,
        out_bytes: check("out_kb", out_kb, max_kb)? * 1024,
        out_packets: check("out_packets", out_packets, max_packets)?,
    })
}

pub fn peer_id(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_godot_codes() {
        assert_eq!(
            error_code(&Error::AlreadyListening),
            GdError::ERR_ALREADY_IN_USE
        );
        let bind = Error::Bind {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: std::io::ErrorKind::AddrInUse.into(),
        };
        assert_eq!(error_code(&bind), GdError::ERR_CANT_CREATE);
        assert_eq!(
            error_code(&Error::InvalidAddress("x".into())),
            GdError::ERR_INVALID_PARAMETER
        );
        assert_eq!(
            error_code(&Error::Tls("x".into())),
            GdError::ERR_INVALID_PARAMETER
        );
        assert_eq!(error_code(&Error::Busy("x".into())), GdError::FAILED);
        assert_eq!(
            error_code(&Error::UnknownPeer(5)),
            GdError::ERR_DOES_NOT_EXIST
        );
        assert_eq!(
            send_error_code(&SendError::BufferFull {
                queued_bytes: 1,
                queued_packets: 1
            }),
            GdError::ERR_OUT_OF_MEMORY
        );
        assert_eq!(
            send_error_code(&SendError::TooLarge { len: 2, limit: 1 }),
            GdError::ERR_OUT_OF_MEMORY
        );
        assert_eq!(send_error_code(&SendError::Closed), GdError::FAILED);
        assert_eq!(
            send_error_code(&SendError::InvalidUtf8),
            GdError::ERR_INVALID_DATA
        );
    }

    #[test]
    fn int_arguments_are_range_checked() {
        assert_eq!(port(0).unwrap(), 0);
        assert_eq!(port(65535).unwrap(), 65535);
        assert!(port(-1).is_err() && port(65536).is_err());
        assert_eq!(close_code(1000).unwrap(), 1000);
        assert!(close_code(-1).is_err() && close_code(70000).is_err());
        assert_eq!(peer_id(i64::MAX), 0);
        assert_eq!(peer_id(7), 7);
        assert_eq!(seconds(0.5, "t").unwrap(), Duration::from_millis(500));
        assert!(seconds(0.0, "t").is_err() && seconds(-1.0, "t").is_err());
        assert!(seconds(f64::NAN, "t").is_err() && seconds(1e300, "t").is_err());
        assert_eq!(count(0, "n").unwrap(), 0);
        assert!(count(-1, "n").is_err());
    }

    #[test]
    fn buffers_follow_godot_rules() {
        let b = buffers(3, 1000, 64, 1).unwrap();
        assert_eq!(
            b,
            Buffers {
                in_bytes: 4096,
                in_packets: 1024,
                out_bytes: 65536,
                out_packets: 1
            }
        );
        assert!(buffers(0, 1, 1, 1).is_err());
        assert!(buffers(1, -1, 1, 1).is_err());
        assert!(buffers(1 << 21, 1, 1, 1).is_err());
    }
}
