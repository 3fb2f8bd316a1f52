//! The body types of [`McpAuth`](crate::McpAuth): [`RequestBody`], what the inner service
//! receives, and [`ResponseBody`], what the layer answers with.
//!
//! The layer sometimes has to read a request body before it can decide (a form body, checked
//! for an `access_token`; an MCP POST classified by its JSON-RPC method), and it answers
//! rejections with bodies of its own. Both types are "the body you gave, untouched" or
//! "bytes the layer holds", so the layer works with any body type, hyper's `Incoming`
//! included, without asking it to be buildable from bytes. Their errors are the wrapped
//! body's own: a body the layer holds never fails.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// The body one of the two types carries.
    ///
    /// Held bytes are boxed, and none are `None`: with the box (one pointer) the enum is no
    /// larger than a boxed body such as axum's `Body` (the held variant sits beside its
    /// pointer's niche), so a `Response<ResponseBody<axum::body::Body>>` is the size of a
    /// `Response<axum::body::Body>` and is moved as cheaply. The instruction gauge showed
    /// the difference: a 32-byte `Full<Bytes>` here cost ~150 instructions per request in
    /// `memcpy` calls (a move of more than 128 bytes is a call). The box is only allocated
    /// for a body the layer read or a rejection body with content, never on the paths that
    /// pass a request through untouched or answer with an empty rejection.
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        /// The body from the other side, untouched.
        Wrapped { #[pin] body: B },
        /// Bytes the layer holds, until read; `None` for no (more) bytes.
        Held { bytes: Option<Box<Bytes>> },
    }
}

impl<B> Kind<B> {
    fn held(bytes: Bytes) -> Self {
        Self::Held {
            bytes: (!bytes.is_empty()).then(|| Box::new(bytes)),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Kind<B> {
    type Data = Bytes;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project() {
            KindProj::Wrapped { body } => body.poll_frame(cx),
            KindProj::Held { bytes } => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(*b)))),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match self {
            Self::Wrapped { body } => body.is_end_stream(),
            Self::Held { bytes } => bytes.is_none(),
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Wrapped { body } => body.size_hint(),
            Self::Held { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// What both wrappers share: built from a body or from bytes, `Default` (empty),
/// `From<Bytes>`, and a [`Body`] that forwards to their [`Kind`].
macro_rules! wrapper {
    ($name:ident, $new:literal, $bytes:literal, $empty:literal) => {
        impl<B> $name<B> {
            #[doc = $new]
            pub fn new(body: B) -> Self {
                Self {
                    kind: Kind::Wrapped { body },
                }
            }

            #[doc = $bytes]
            pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
                Self {
                    kind: Kind::held(bytes.into()),
                }
            }

            #[doc = $empty]
            pub fn empty() -> Self {
                Self::from_bytes(Bytes::new())
            }
        }

        /// An empty body.
        impl<B> Default for $name<B> {
            fn default() -> Self {
                Self::empty()
            }
        }

        /// A body of these bytes.
        impl<B> From<Bytes> for $name<B> {
            fn from(bytes: Bytes) -> Self {
                Self::from_bytes(bytes)
            }
        }

        impl<B: Body<Data = Bytes>> Body for $name<B> {
            type Data = Bytes;
            type Error = B::Error;

            #[inline]
            fn poll_frame(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
                self.project().kind.poll_frame(cx)
            }

            #[inline]
            fn is_end_stream(&self) -> bool {
                self.kind.is_end_stream()
            }

            #[inline]
            fn size_hint(&self) -> SizeHint {
                self.kind.size_hint()
            }
        }
    };
}

pin_project! {
    /// The body of a request as [`McpAuth`](crate::McpAuth) hands it to the inner service
    /// (`Request<RequestBody<B>>` for a layer called with `Request<B>`).
    ///
    /// Either the client's body `B`, untouched and still unread (the usual case: the layer
    /// read nothing), or the bytes the layer had to read to decide: a form body it checked
    /// for an `access_token` (RFC 6750 §2.2), an MCP POST it classified for the scope
    /// policy, in both cases all of it, byte for byte. A CORS preflight gets an empty body.
    ///
    /// It is an [`http_body::Body`] with `Data = Bytes` and `Error = B::Error` (the bytes the
    /// layer holds cannot fail), and forwards [`size_hint`](Body::size_hint) and
    /// [`is_end_stream`](Body::is_end_stream), so an axum `Router`, a hyper service or
    /// `http_body_util::BodyExt::collect` take it as they take `B`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use mcp_auth::RequestBody;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // What an inner service sees, for example in a test of it without the layer.
    /// let body = RequestBody::new(Full::new(Bytes::from_static(b"{}")));
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "{}");
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

impl<B> RequestBody<B> {
    /// Whether this is the layer's copy of a body it read (or an empty one), not the
    /// original body.
    pub fn is_buffered(&self) -> bool {
        matches!(self.kind, Kind::Held { .. })
    }
}

wrapper!(
    RequestBody,
    "The body `body`, untouched.",
    "A body of `bytes` (what the layer hands on after reading a body).",
    "An empty body (what a CORS preflight gets)."
);

pin_project! {
    /// The body of a response of [`McpAuth`](crate::McpAuth)
    /// (`Response<ResponseBody<ResBody>>` around an inner service answering
    /// `Response<ResBody>`).
    ///
    /// Either the inner service's body, untouched, or a body the layer built for a
    /// rejection: empty for a token rejection (the `WWW-Authenticate` challenge says it
    /// all), the JSON-RPC error of an `Origin` 403 or of an `Mcp-Method`/`Mcp-Name` mismatch
    /// (-32020), or what the rejection hook rendered
    /// ([`McpAuthBuilder::rejection_response`](crate::McpAuthBuilder::rejection_response)).
    ///
    /// It is an [`http_body::Body`] with `Data = Bytes` and `Error = ResBody::Error` (the
    /// layer's own bodies cannot fail), and forwards [`size_hint`](Body::size_hint) and
    /// [`is_end_stream`](Body::is_end_stream) (so `Content-Length` is still known for the
    /// inner service's full bodies).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body::Body;
    /// use http_body_util::Empty;
    /// use mcp_auth::ResponseBody;
    ///
    /// let body = ResponseBody::<Empty<Bytes>>::from_bytes("{}");
    /// assert!(!body.is_from_inner());
    /// assert_eq!(body.size_hint().exact(), Some(2));
    /// ```
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

impl<B> ResponseBody<B> {
    /// Whether this is the inner service's body (the request was let through), not one the
    /// layer built.
    pub fn is_from_inner(&self) -> bool {
        matches!(self.kind, Kind::Wrapped { .. })
    }
}

wrapper!(
    ResponseBody,
    "The inner service's body `body`, untouched.",
    "A body of `bytes` (a rejection's body).",
    "An empty body."
);

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty, Full};

    /// A body that is neither `Default` nor `From<Bytes>` (like hyper's `Incoming`), with an
    /// error of its own.
    #[derive(Debug)]
    struct Failing;

    impl Body for Failing {
        type Data = Bytes;
        type Error = &'static str;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            Poll::Ready(Some(Err("broken pipe")))
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(42)
        }
    }

    #[tokio::test]
    async fn the_wrapped_body_error_is_its_own() {
        let body = RequestBody::new(Failing);
        assert_eq!(body.size_hint().exact(), Some(42));
        assert_eq!(body.collect().await.unwrap_err(), "broken pipe");
        let body = ResponseBody::new(Failing);
        assert_eq!(body.collect().await.unwrap_err(), "broken pipe");
        // The layer's own bodies of the same type never fail.
        let held = RequestBody::<Failing>::from_bytes("x");
        assert_eq!(held.collect().await.unwrap().to_bytes(), "x");
    }

    #[tokio::test]
    async fn held_bytes_are_read_back_whole_with_an_exact_size() {
        let body = RequestBody::<Empty<Bytes>>::from_bytes("a=1&b=2");
        assert!(body.is_buffered());
        assert_eq!(body.size_hint().exact(), Some(7));
        assert!(!body.is_end_stream());
        assert_eq!(body.collect().await.unwrap().to_bytes(), "a=1&b=2");

        let empty = ResponseBody::<Empty<Bytes>>::default();
        assert!(!empty.is_from_inner());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }

    #[tokio::test]
    async fn a_wrapped_body_is_forwarded_untouched() {
        let inner = Full::new(Bytes::from_static(b"hello"));
        let body = ResponseBody::new(inner);
        assert!(body.is_from_inner());
        assert_eq!(body.size_hint().exact(), Some(5));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");

        let empty = RequestBody::new(Empty::<Bytes>::new());
        assert!(!empty.is_buffered());
        assert!(empty.is_end_stream());
    }
}
