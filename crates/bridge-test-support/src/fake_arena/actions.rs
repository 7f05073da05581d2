//! The site's Next.js server actions (UPSTREAM.md §7): the app page loads a JavaScript chunk
//! that names each action's id with `createServerReference("<id>", …, "<name>")`; ids belong to
//! a "deployment" and change when a test rotates it (`POST /__fake/deploy`), after which the
//! old ids answer 404. `POST /` with a `next-action` header calls one; the fake knows
//! `deleteEvaluationSession`, which removes a conversation from the history that
//! `GET /__fake/history` shows, and the upload steps: `generateUploadUrl` names a presigned
//! URL on a second HTTPS origin ([`UPLOAD_HOST`], the same listener), a PUT there stores the
//! bytes (with CORS for the site's pages), and `getSignedUrl` names the stored object.

use bridge_core::arena::upload::{
    ACTIONS as ACTION_NAMES, ACTION_DELETE_EVALUATION_SESSION, ACTION_GENERATE_UPLOAD_URL,
    ACTION_GET_SIGNED_URL, ACTION_ID_HEADER, ACTION_PATH, SERVER_REFERENCE_CALL,
};
use serde_json::{json, Value};

/// Path prefix of the chunk that carries the action ids (`actions-<deployment>.js`).
pub const ACTION_CHUNK_PREFIX: &str = "/_next/static/chunks/actions-";
/// Header that names the action of a POST.
pub const NEXT_ACTION_HEADER: &str = ACTION_ID_HEADER;
/// The page path actions are POSTed to.
pub const ACTION_POST_PATH: &str = ACTION_PATH;

/// The object store's host name (a second origin; map it like the site's hosts).
pub const UPLOAD_HOST: &str = "uploads.fake-arena-storage.test";
/// Path prefix of presigned PUTs and of signed GETs on [`UPLOAD_HOST`].
pub const PUT_PREFIX: &str = "/put/";
pub const GET_PREFIX: &str = "/get/";

/// The 42-hex id of action `name` in `deployment`.
pub fn action_id(deployment: u32, name: &str) -> String {
    let index = ACTION_NAMES.iter().position(|n| *n == name).unwrap_or(0xff);
    format!("{deployment:032x}{:08x}{index:02x}", 0x5eed_ac71_u32)
}

/// The chunk's path in `deployment`.
pub(super) fn chunk_path(deployment: u32) -> String {
    format!("{ACTION_CHUNK_PREFIX}{deployment}.js")
}

/// The chunk's JavaScript, minified the way Next.js writes it.
pub(super) fn chunk_js(deployment: u32) -> String {
    let mut js = String::from(
        "\"use strict\";(self.webpackChunk_N_E=self.webpackChunk_N_E||[]).push([[42],{7:(e,t,n)=>{",
    );
    for name in ACTION_NAMES {
        js.push_str(&format!(
            "let {name}=(0,n.{SERVER_REFERENCE_CALL})(\"{}\",n.callServer,void 0,n.findSourceMapURL,\"{name}\");",
            action_id(deployment, name)
        ));
    }
    js.push_str("}}]);\n");
    js
}

/// The app page with the action chunk's script tag added.
pub(super) fn with_chunk(page: String, deployment: u32) -> String {
    let tag = format!(
        r#"<script src="{}" async></script>"#,
        chunk_path(deployment)
    );
    match page.rfind("</body>") {
        Some(at) => format!("{}{tag}{}", &page[..at], &page[at..]),
        None => page + &tag,
    }
}

/// What an action call asks the fake to do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ActionCall {
    Delete(String),
    GenerateUploadUrl {
        file_name: String,
        content_type: String,
    },
    GetSignedUrl(String),
}

/// Reads a POST to the page: the action named by `id` in `deployment`, or why not (`None`:
/// an unknown id, 404 like the site after a new deployment).
pub(super) fn parse_call(
    deployment: u32,
    id: &str,
    body_text: Option<&str>,
    body_json: Option<&Value>,
) -> Option<Result<ActionCall, String>> {
    let name = ACTION_NAMES
        .iter()
        .find(|n| action_id(deployment, n) == id)?;
    let args: Option<Value> = body_json
        .cloned()
        .or_else(|| body_text.and_then(|t| serde_json::from_str(t).ok()));
    let arg = |i: usize| {
        args.as_ref()
            .and_then(|a| a.as_array())
            .and_then(|a| a.get(i))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(match (*name, arg(0), arg(1)) {
        (ACTION_DELETE_EVALUATION_SESSION, Some(id), _) => Ok(ActionCall::Delete(id)),
        (ACTION_GENERATE_UPLOAD_URL, Some(file_name), Some(content_type)) => {
            Ok(ActionCall::GenerateUploadUrl {
                file_name,
                content_type,
            })
        }
        (ACTION_GET_SIGNED_URL, Some(key), _) => Ok(ActionCall::GetSignedUrl(key)),
        (other, _, _) => Err(format!("{other}: wrong arguments {args:?}")),
    })
}

/// The RSC answer of an action: `0:` metadata, `1:` the result.
pub(super) fn answer(result: &Value) -> String {
    format!(
        "0:{}\n1:{}\n",
        json!({"a": "$@1", "f": "", "b": "fake"}),
        result
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::arena::upload::find_action_ids;

    #[test]
    fn the_chunk_names_every_action_and_ids_change_with_the_deployment() {
        let found = find_action_ids(&chunk_js(3));
        assert_eq!(found.len(), 3);
        for (name, id) in &found {
            assert_eq!(*id, action_id(3, name));
            assert_eq!(id.len(), 42);
        }
        assert_ne!(
            action_id(3, ACTION_DELETE_EVALUATION_SESSION),
            action_id(4, ACTION_DELETE_EVALUATION_SESSION)
        );
        let id = action_id(3, ACTION_DELETE_EVALUATION_SESSION);
        assert_eq!(
            parse_call(3, &id, Some("[\"e-1\"]"), None),
            Some(Ok(ActionCall::Delete("e-1".to_owned())))
        );
        assert_eq!(parse_call(4, &id, Some("[\"e-1\"]"), None), None);
    }
}
