//! A call's request header list as the relay keeps it until the call goes to its server (one
//! buffer and an index, not a pair of vectors per field), what the relay reads of it (method,
//! :path, content-type, grpc-encoding, authorization) and the header block the server gets, as
//! `upstreamFields` of `src/gateway/proxy/relay-headers.ts` builds it.

use crate::hpack::TableEncoder;
use crate::scan::Method;

/// Request headers that belong to one hop, or that the gateway sets itself.
const HOP_HEADERS: [&[u8]; 7] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"http2-settings",
];

const SPARK_CONNECT_SERVICE: &[u8] = b"spark.connect.SparkConnectService";

/// Decoded header fields in arrival order.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct HeaderList {
    bytes: Vec<u8>,
    /// (offset, name length, value length) of each field in `bytes`.
    index: Vec<(u32, u32, u32)>,
}

impl HeaderList {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.index.clear();
    }

    /// Room for a typical request's fields without growing.
    pub fn with_capacity() -> Self {
        HeaderList {
            bytes: Vec::with_capacity(512),
            index: Vec::with_capacity(12),
        }
    }

    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.index.push((at, name.len() as u32, value.len() as u32));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.index.iter().map(|&(at, name, value)| {
            let at = at as usize;
            let name_end = at + name as usize;
            (
                &self.bytes[at..name_end],
                &self.bytes[name_end..name_end + value as usize],
            )
        })
    }

    /// Whether the fields are a gRPC request (POST, content-type application/grpc…) and its
    /// :path, read as `requestHead` reads them (the last occurrence of each wins).
    pub fn grpc_request(&self) -> (bool, &[u8]) {
        let (mut post, mut path, mut grpc): (bool, &[u8], bool) = (false, b"", false);
        for (name, value) in self.iter() {
            match name {
                b":method" => post = value == b"POST",
                b":path" => path = value,
                b"content-type" => grpc = value.starts_with(b"application/grpc"),
                _ => {}
            }
        }
        (post && grpc, path)
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// What the relay reads of a request's headers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Vec<u8>,
    pub path: Vec<u8>,
    pub content_type: Vec<u8>,
    pub encoding: Option<Vec<u8>>,
}

impl RequestHead {
    /// As `requestHead`: the last occurrence of each wins.
    pub fn of(fields: &HeaderList) -> Self {
        let mut head = RequestHead::default();
        for (name, value) in fields.iter() {
            match name {
                b":method" => head.method = value.to_vec(),
                b":path" => head.path = value.to_vec(),
                b"content-type" => head.content_type = value.to_vec(),
                b"grpc-encoding" => head.encoding = Some(value.to_vec()),
                _ => {}
            }
        }
        head
    }
}

/// `/service/method` split as `parseMethodPath` does: two non-empty parts without '/'.
pub fn method_path(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = path.strip_prefix(b"/")?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (service, method) = (&rest[..slash], &rest[slash + 1..]);
    if service.is_empty() || method.is_empty() || method.contains(&b'/') {
        return None;
    }
    Some((service, method))
}

/// The SparkConnectService method of a path's parts, as `sparkConnectMethodOf`.
pub fn spark_connect_method(service: &[u8], method: &[u8]) -> Option<Method> {
    if service != SPARK_CONNECT_SERVICE {
        return None;
    }
    Method::from_name(std::str::from_utf8(method).ok()?)
}

/// Whether calls of `method` stream (server or client side), as the TypeScript table says.
pub fn is_streaming(method: Method) -> bool {
    matches!(
        method,
        Method::ExecutePlan | Method::AddArtifacts | Method::ReattachExecute
    )
}

/// What the server's header block depends on besides the request's own fields.
pub struct UpstreamHeaders<'a> {
    pub authority: &'a [u8],
    /// The gateway verified the client's credentials, which are not the server's business.
    pub authenticated: bool,
    pub backend_token: Option<&'a [u8]>,
}

/// The header block a server gets for `fields`: the gateway's own pseudo-headers, the client's
/// fields without hop-by-hop ones, and (with a backend token) the token and a request for
/// uncompressed replies, so the token can be kept out of them.
pub fn encode_upstream_block(
    encoder: &mut TableEncoder,
    fields: &HeaderList,
    path: &[u8],
    how: &UpstreamHeaders<'_>,
) {
    encoder.clear();
    encoder.push(b":method", b"POST");
    encoder.push(b":scheme", b"http");
    encoder.push(b":path", path);
    encoder.push(b":authority", how.authority);
    let drop_authorization = how.authenticated || how.backend_token.is_some();
    for (name, value) in fields.iter() {
        if name.first() == Some(&b':') || HOP_HEADERS.contains(&name) {
            continue;
        }
        if drop_authorization && name == b"authorization" {
            continue;
        }
        if how.backend_token.is_some() && name == b"grpc-accept-encoding" {
            continue;
        }
        encoder.push(name, value);
    }
    if let Some(token) = how.backend_token {
        let mut bearer = b"Bearer ".to_vec();
        bearer.extend_from_slice(token);
        encoder.push(b"authorization", &bearer);
        encoder.push(b"grpc-accept-encoding", b"identity");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_method_paths_as_the_typescript_does() {
        assert_eq!(
            method_path(b"/spark.connect.SparkConnectService/Config"),
            Some((&b"spark.connect.SparkConnectService"[..], &b"Config"[..]))
        );
        for bad in [
            &b""[..],
            b"/",
            b"//x",
            b"/a/",
            b"/a",
            b"a/b",
            b"/a/b/c",
            b"/a//b",
        ] {
            assert_eq!(method_path(bad), None, "{bad:?}");
        }
        assert_eq!(
            spark_connect_method(b"spark.connect.SparkConnectService", b"ExecutePlan"),
            Some(Method::ExecutePlan)
        );
        assert_eq!(spark_connect_method(b"other.Service", b"ExecutePlan"), None);
    }

    #[test]
    fn builds_the_servers_header_block() {
        let mut fields = HeaderList::default();
        for (n, v) in [
            (":method", "POST"),
            (":path", "/s/m"),
            (":authority", "gw"),
            ("content-type", "application/grpc"),
            ("authorization", "Bearer client"),
            ("connection", "x"),
            ("grpc-accept-encoding", "gzip"),
            ("x-user", "a"),
        ] {
            fields.push(n.as_bytes(), v.as_bytes());
        }
        let mut encoder = TableEncoder::new();
        let decode = |encoder: &TableEncoder| {
            let mut decoder = crate::hpack::HpackDecoder::new(4096, 1 << 20);
            decoder
                .decode(encoder.block())
                .unwrap()
                .into_iter()
                .map(|(n, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8(n).unwrap(),
                        String::from_utf8(v).unwrap()
                    )
                })
                .collect::<Vec<_>>()
        };
        let plain = UpstreamHeaders {
            authority: b"b1",
            authenticated: false,
            backend_token: None,
        };
        encode_upstream_block(&mut encoder, &fields, b"/s/m", &plain);
        assert_eq!(
            decode(&encoder),
            [
                ":method=POST",
                ":scheme=http",
                ":path=/s/m",
                ":authority=b1",
                "content-type=application/grpc",
                "authorization=Bearer client",
                "grpc-accept-encoding=gzip",
                "x-user=a"
            ]
        );
        let token = UpstreamHeaders {
            authority: b"b1",
            authenticated: true,
            backend_token: Some(b"tok"),
        };
        encode_upstream_block(&mut encoder, &fields, b"/s/m", &token);
        assert_eq!(
            decode(&encoder),
            [
                ":method=POST",
                ":scheme=http",
                ":path=/s/m",
                ":authority=b1",
                "content-type=application/grpc",
                "x-user=a",
                "authorization=Bearer tok",
                "grpc-accept-encoding=identity"
            ]
        );
    }
}
