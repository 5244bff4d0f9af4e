#!/usr/bin/env python3
"""Writes events/track-view/*.json and events/predict/*.json: API Gateway HTTP API
(payload 2.0) events for
`sam local invoke` and for the handler tests. Tokens are signed with the development
secret in events/env.json and live 24 hours (the longest lifetime the service accepts),
so regenerate the events before invoking them locally (the handler tests sign fresh
tokens with the same claims):
    python3 scripts/gen-events.py
"""
import base64, hashlib, hmac, json, os, time

SECRET = b"local-development-secret-not-for-production"
IAT = int(time.time())
TTL = 86400


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(sid, cid=None, secret=SECRET, ttl=TTL):
    claims = {"sid": sid, "iat": IAT, "exp": IAT + ttl}
    if cid:
        claims["cid"] = cid
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
    return signing + "." + b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())


def event(method, path, route, params, body=None, auth=None, query=""):
    headers = {"content-type": "application/json", "host": "api.example.com"}
    if auth:
        headers["authorization"] = auth
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "sam-local"},
            "requestId": "req",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795687200000,
        },
        "pathParameters": params,
        **({"queryStringParameters": dict(
            kv.split("=", 1) for kv in query.split("&"))} if query else {}),
        "body": body,
        "isBase64Encoded": False,
    }


def post(sid, body, auth):
    return event("POST", f"/v1/sessions/{sid}/views", "/v1/sessions/{session_id}/views",
                 {"session_id": sid}, body, auth)


def impressions(sid, body, auth):
    return event("POST", f"/v1/sessions/{sid}/impressions", "/v1/sessions/{session_id}/impressions",
                 {"session_id": sid}, body, auth)


SHOWN = {"recommendation_id": "0123456789abcdef0123456789abcdef",
         "model_version": "20261130T120000Z-0123abcd", "strategy": "session",
         "item_ids": ["item-4", "item-5"]}


def get(sid, auth):
    return event("GET", f"/v1/sessions/{sid}", "/v1/sessions/{session_id}", {"session_id": sid}, None, auth)


bearer = lambda sid, cid=None: "Bearer " + token(sid, cid)
S, C = "s-events-1", "s-events-customer"
tampered = token(S)[:-4] + "AAAA"
cases = {
    # name: event (the handler test knows each case's expected status and code)
    "post-view": post(S, json.dumps({"item_id": "item-1"}), bearer(S)),
    "post-batch": post(S, json.dumps({"views": [{"item_id": "item-2"}, {"item_id": "item-3"}]}), bearer(S)),
    "post-impressions": impressions(S, json.dumps({"impressions": [SHOWN]}), bearer(S)),
    "post-impressions-bad-strategy": impressions(
        S, json.dumps({"impressions": [{**SHOWN, "strategy": "magic"}]}), bearer(S)),
    "get-session": get(S, bearer(S)),
    "post-view-customer": post(C, json.dumps({"item_id": "item-9", "customer_id": "c-1"}), bearer(C, "c-1")),
    "post-view-other-customer": post(C, json.dumps({"item_id": "item-9"}), bearer(C, "c-2")),
    "post-view-without-customer": post(C, json.dumps({"item_id": "item-9"}), bearer(C)),
    "get-session-without-customer": get(C, bearer(C)),
    "token-too-long-lived": post(S, json.dumps({"item_id": "item-1"}), "Bearer " + token(S, ttl=30 * 86400)),
    "format-character-in-item-id": post(S, json.dumps({"item_id": "sku\u202e1"}), bearer(S)),
    "post-view-archived": post("s-events-archived", json.dumps({"item_id": "item-1"}), bearer("s-events-archived")),
    "post-view-over-cap": post("s-events-full", json.dumps({"item_id": "item-1"}), bearer("s-events-full")),
    "get-unknown-session": get("s-events-never", bearer("s-events-never")),
    "no-token": post(S, json.dumps({"item_id": "item-1"}), None),
    "tampered-token": post(S, json.dumps({"item_id": "item-1"}), "Bearer " + tampered),
    "token-for-other-session": post(S, json.dumps({"item_id": "item-1"}), bearer("s-someone-else")),
    "malformed-json": post(S, '{"item_id": ', bearer(S)),
    "unknown-field": post(S, json.dumps({"item_id": "item-1", "price": 3}), bearer(S)),
    "empty-item-id": post(S, json.dumps({"item_id": ""}), bearer(S)),
    "bad-viewed-at": post(S, json.dumps({"item_id": "item-1", "viewed_at": "yesterday"}), bearer(S)),
    "batch-too-long": post(S, json.dumps({"views": [{"item_id": f"i{i}"} for i in range(26)]}), bearer(S)),
    "body-too-large": post(S, json.dumps({"item_id": "x" * 70000}), bearer(S)),
    "unknown-route": event("GET", "/v1/nothing-here", "$default", None, None, bearer(S)),
}


def recs(query, auth):
    return event("GET", "/v1/recommendations", "/v1/recommendations", None, None, auth, query)


def similar(item, query, auth):
    return event("GET", f"/v1/items/{item}/similar", "/v1/items/{item_id}/similar",
                 {"item_id": item}, None, auth, query)


def popular(query, auth):
    return event("GET", "/v1/popular", "/v1/popular", None, None, auth, query)


# Item ids (i0..i89, categories cat0..cat5) and customers (c0..c239) are those of the
# shop the handler test trains on; s-predict-viewer has views seeded by the test.
A, V, K = "s-predict-anon", "s-predict-viewer", "s-predict-c7"
predict_cases = {
    "recommendations-popular": recs(f"session_id={A}&k=5", bearer(A)),
    "recommendations-session": recs(f"session_id={V}", bearer(V)),
    "recommendations-hybrid": recs(f"session_id={K}&customer_id=c7", bearer(K, "c7")),
    "recommendations-category": recs(f"session_id={V}&k=20&category=cat3", bearer(V)),
    "recommendations-exclude": recs(f"session_id={V}&exclude_seen=false&exclude=i0,i1", bearer(V)),
    "similar": similar("i3", "k=5", bearer(A)),
    "similar-in-session": similar("i3", f"k=5&session_id={V}", bearer(V)),
    "similar-unknown-item": similar("no-such-item", "", bearer(A)),
    "popular": popular("k=5", bearer(A)),
    "popular-category": popular("k=3&category=cat1", bearer(A)),
    "bad-k": recs(f"session_id={A}&k=500", bearer(A)),
    "empty-category": popular("category=", bearer(A)),
    "unknown-parameter": recs(f"session_id={A}&colour=red", bearer(A)),
    "token-for-other-session": recs(f"session_id={A}", bearer("s-someone-else")),
    "customer-not-in-token": recs(f"session_id={A}&customer_id=c9", bearer(A)),
    "no-token": popular("", None),
    "no-model": popular("", bearer(A)),
}

for folder, group in (("track-view", cases), ("predict", predict_cases)):
    out = os.path.join(os.path.dirname(__file__), "..", "events", folder)
    os.makedirs(out, exist_ok=True)
    for name, ev in group.items():
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(ev, f, indent=2)
            f.write("\n")
with open(os.path.join(out, "..", "env.json"), "w") as f:
    json.dump({
        "TrackViewFunction": {
            "RECO_TOKEN_SECRET": SECRET.decode(),
            "RECO_SESSIONS_TABLE": "reco-sessions",
        },
        "DeadpoolFunction": {
            "RECO_SESSIONS_TABLE": "reco-sessions",
            "RECO_RDS_RESOURCE_ARN": "arn:aws:rds:us-east-1:123456789012:cluster:reco-local",
            "RECO_RDS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:reco-local",
            "RECO_RDS_DATABASE": "reco",
            "AWS_ENDPOINT_URL_RDS_DATA": "http://host.docker.internal:8181",
        },
        "PredictFunction": {
            "RECO_TOKEN_SECRET": SECRET.decode(),
            "RECO_SESSIONS_TABLE": "reco-sessions",
            "RECO_ARTIFACT_BUCKET": "reco-models",
            "RECO_REDIS_URL": "redis://host.docker.internal:6379",
        },
        "TrainFunction": {
            "RECO_RDS_RESOURCE_ARN": "arn:aws:rds:us-east-1:123456789012:cluster:reco-local",
            "RECO_RDS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:reco-local",
            "RECO_RDS_DATABASE": "reco",
            "RECO_ARTIFACT_BUCKET": "reco-models",
            "AWS_ENDPOINT_URL_RDS_DATA": "http://host.docker.internal:8181",
        },
        # The warm step, the one training step in the VPC: the bundle and the cache.
        "WarmFunction": {
            "RECO_ARTIFACT_BUCKET": "reco-models",
            "RECO_REDIS_URL": "redis://host.docker.internal:6379",
        },
    }, f, indent=2)
    f.write("\n")
print(f"wrote {len(cases) + len(predict_cases)} events")
