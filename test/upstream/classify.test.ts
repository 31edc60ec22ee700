import assert from "node:assert/strict";
import { test } from "node:test";
import { errors } from "undici";
import { classify, errorCode } from "../../src/upstream/classify.js";

const withCode = (code: string) => Object.assign(new Error(code), { code });

test("client-caused failures are answered 4xx, never blame a server and are never retried", () => {
  for (const error of [
    new errors.InvalidArgumentError("invalid x-q header"),
    withCode("UND_ERR_REQ_CONTENT_LENGTH_MISMATCH"),
    withCode("PTC_ERR_REQUEST_BODY_TOO_LARGE"),
    withCode("PTC_UPSTREAM_CLIENT_REQUEST"),
  ]) {
    const failure = classify(error);
    assert.equal(failure.kind, "client", error.message);
    assert.equal(failure.blamesServer, false);
    assert.equal(failure.retryAs, null);
  }
  assert.equal(classify(new errors.InvalidArgumentError("invalid x-q header")).code, "PTC_ERR_REQUEST_MALFORMED");
  assert.equal(classify(withCode("PTC_ERR_REQUEST_BODY_TOO_LARGE")).code, "PTC_ERR_REQUEST_BODY_TOO_LARGE");
});

test("connect failures are 502, blame the server and may go to the next one as an error", () => {
  for (const code of ["ECONNREFUSED", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN"]) {
    const failure = classify(withCode(code));
    assert.deepEqual([failure.kind, failure.code, failure.blamesServer, failure.retryAs], ["connect", "PTC_ERR_UPSTREAM_UNAVAILABLE", true, "error"], code);
  }
});

test("timeouts are 504 and retried as nginx's timeout case", () => {
  for (const error of [new errors.ConnectTimeoutError(), new errors.HeadersTimeoutError(), new errors.BodyTimeoutError(), withCode("ETIMEDOUT")]) {
    const failure = classify(error);
    assert.deepEqual([failure.kind, failure.code, failure.blamesServer, failure.retryAs], ["timeout", "PTC_ERR_UPSTREAM_TIMEOUT", true, "timeout"]);
  }
});

test("TLS and protocol failures are 502 and blame the server", () => {
  assert.equal(classify(withCode("DEPTH_ZERO_SELF_SIGNED_CERT")).kind, "tls");
  assert.equal(classify(withCode("ERR_TLS_CERT_ALTNAME_INVALID")).code, "PTC_ERR_UPSTREAM_TLS");
  for (const error of [new errors.SocketError("other side closed"), withCode("ECONNRESET"), withCode("HPE_INVALID_CONSTANT"), new Error("no code")]) {
    const failure = classify(error);
    assert.deepEqual([failure.kind, failure.code, failure.blamesServer], ["protocol", "PTC_ERR_UPSTREAM_UNAVAILABLE", true]);
  }
});

test("errorCode keeps a code the gateway already decided", () => {
  assert.equal(errorCode(withCode("PTC_ERR_UPSTREAM_UNAVAILABLE")), "PTC_ERR_UPSTREAM_UNAVAILABLE");
  assert.equal(errorCode(new errors.HeadersTimeoutError()), "PTC_ERR_UPSTREAM_TIMEOUT");
});
