"""The request analytics API (`/v1/requests/*`, `/v1/dashboard/{kpi,
pipelines}`) over the 2026 fixture: every answer validates, with the
`jsonschema` package, against the schema `/openapi.json` documents for it,
and carries NaaP's figures where NaaP is right and the corrected ones where
events-2026.md shows it wrong."""
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import referencing
import referencing.jsonschema

from conftest import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "ai-batch-byoc-sample.ndjson"
LIVE_SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
HOUR = {"start": "2026-04-15T12:00:00Z", "end": "2026-04-15T13:00:00Z"}
O1 = "0x3c4f7e2a9b1d5c6e8f0a2b4c6d8e0f1a3b5c7d9e"
O2 = "0x8d2e6f1a4b7c9e0d3f5a8b1c4e7d0a2f6b9c3e5d"
CHAT, IMAGE = "openai-chat-completions", "openai-image-generation"
QWEN, LLAMA, FLUX = "Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "black-forest-labs/FLUX.1-schnell"
PATHS = ["/v1/requests/ai-batch/summary", "/v1/requests/ai-batch/jobs", "/v1/requests/ai-batch/llm-summary",
         "/v1/requests/byoc/summary", "/v1/requests/byoc/jobs", "/v1/requests/byoc/workers",
         "/v1/requests/byoc/auth", "/v1/requests/models", "/v1/requests/orchestrators",
         "/v1/requests/by-orchestrator",
         "/v1/dashboard/kpi", "/v1/dashboard/pipelines"]


class Api:
    """GETs on one server, each answer checked against its documented schema."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.doc = json.loads(self.fetch("/openapi.json", {})[1])
        resource = referencing.Resource.from_contents(
            self.doc, default_specification=referencing.jsonschema.DRAFT202012)
        self.registry = referencing.Registry().with_resource("urn:naap:openapi", resource)

    def fetch(self, path, params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def schema(self, path, status):
        escaped = path.replace("~", "~0").replace("/", "~1")
        return {"$ref": f"urn:naap:openapi#/paths/{escaped}/get/responses/{status}/content/application~1json/schema"}

    def get(self, path, params=None, status=200):
        params = HOUR if params is None else params
        got, body = self.fetch(path, params)
        assert got == status, (path, params, got, body[:400])
        answer = json.loads(body)
        ref = self.schema(path, status) if status == 200 else {"$ref": "urn:naap:openapi#/components/schemas/Error"}
        jsonschema.Draft202012Validator(ref, registry=self.registry).validate(answer)
        return answer


@pytest.fixture
def fixture_api(naap_bin, serve_lake, tmp_path):
    lake = tmp_path / "lake"
    run([naap_bin, "replay", "--input", str(SAMPLE), "--format", "livepeer-json", "--lake", str(lake)])
    flight_port, http_port = serve_lake(lake)
    api = Api(http_port)
    api.flight = f"grpc://127.0.0.1:{flight_port}"
    return api


def test_ai_batch_endpoints_give_naaps_figures_and_the_faithful_llm_ones(fixture_api):
    api = fixture_api
    summary = {r["pipeline"]: (r["total_jobs"], r["selected_jobs"], r["no_orch_jobs"], r["success_rate"],
                               r["avg_duration_ms"]) for r in api.get("/v1/requests/ai-batch/summary")}
    assert summary == {"llm": (3, 3, 0, 1.0, 1001.0), "text-to-image": (2, 1, 1, 0.5, 1562.0),
                       "audio-to-text": (1, 1, 0, 0.0, 1480.0)}
    # Newest first, four to a page, then the rest by the cursor.
    first = api.get("/v1/requests/ai-batch/jobs", {**HOUR, "limit": 4})
    assert [j["request_id"] for j in first["data"]] == ["e93a04bc", "7d25f6e1", "0e7b3a58", "c41d7e2b"]
    assert first["pagination"]["has_more"] and first["pagination"]["page_size"] == 4
    e93 = first["data"][0]
    assert (e93["completed_at"], e93["success"], e93["tries"], e93["duration_ms"], e93["selection_outcome"]) == (
        "2026-04-15T12:35:01.480Z", False, 1, 1480, "selected")
    assert e93["orch_url"].startswith("https://orch-b.") and e93["attribution_status"] == "unresolved"
    assert first["data"][1]["selection_outcome"] == "no_orch" and first["data"][1]["orch_url"] == ""
    rest = api.get("/v1/requests/ai-batch/jobs", {**HOUR, "limit": 4, "cursor": first["pagination"]["next_cursor"]})
    assert [j["request_id"] for j in rest["data"]] == ["5be20d94", "a3f91c07"]
    assert rest["pagination"] == {"next_cursor": "", "has_more": False, "page_size": 2}
    only = api.get("/v1/requests/ai-batch/jobs", {**HOUR, "pipeline": "text-to-image"})
    assert sorted(j["request_id"] for j in only["data"]) == ["0e7b3a58", "7d25f6e1"]
    # NaaP: success 1.0, TTFT 249.67, tokens/s 47.74, tokens 282 (zeros
    # averaged in, the broken stream a success).
    [llm] = api.get("/v1/requests/ai-batch/llm-summary")
    assert llm["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct" and llm["total_requests"] == 3
    assert llm["success_rate"] == pytest.approx(2 / 3)
    assert llm["avg_ttft_ms"] == pytest.approx(374.5)
    assert llm["avg_tokens_per_sec"] == pytest.approx(71.60937953776829)
    assert llm["avg_total_tokens"] == pytest.approx(423.0)
    assert llm["streamed_requests"] == 2


def test_byoc_endpoints_count_jobs_once_and_runners_once(fixture_api):
    api = fixture_api
    # NaaP: chat 3 "jobs" (completed attempts), 2/3, 2757 ms.
    summary = {r["capability"]: (r["total_jobs"], r["selected_jobs"], r["no_orch_jobs"], r["success_rate"],
                                 r["avg_duration_ms"]) for r in api.get("/v1/requests/byoc/summary")}
    # No duration is 0, as NaaP's schema has no null for it.
    assert summary == {CHAT: (4, 4, 0, 0.5, 4134.0), IMAGE: (1, 1, 0, 0.0, 0.0),
                       "openai-text-embeddings": (1, 0, 1, 0.0, 0.0)}
    jobs = api.get("/v1/requests/byoc/jobs")["data"]
    assert sorted(j["outcome"] for j in jobs) == sorted(
        ["ok", "ok", "transport_error", "insufficient_balance", "auth_failed", "no_orchestrators"])
    j1 = next(j for j in jobs if j["outcome"] == "ok" and j["duration_ms"] == 2148)
    assert (j1["model"], j1["price_per_unit"], j1["http_status"], j1["orch_address"], j1["attempts"]) == (
        QWEN, 1500, 200, O1, 1)
    j2 = next(j for j in jobs if j["outcome"] == "ok" and j["duration_ms"] == 6120)
    assert j2["attempts"] == 2 and j2["streaming"]
    # NaaP: chat 3 workers at 600 (the drained copy, the exhaustion and
    # the unregistration counted as workers).
    workers = {r["capability"]: r for r in api.get("/v1/requests/byoc/workers")}
    chat = workers[CHAT]
    assert (chat["worker_count"], sorted(chat["models"]), chat["avg_price_per_unit"]) == (2, [QWEN, LLAMA], 750.0)
    assert (chat["active_workers"], chat["gone_workers"]) == (1, 1)
    assert (workers[IMAGE]["worker_count"], workers[IMAGE]["models"], workers[IMAGE]["avg_price_per_unit"]) == (
        1, [FLUX], 3000.0)
    # NaaP sees one success per capability and neither the refused
    # signature nor the stream webhook.
    auth = {r["capability"]: (r["total_events"], r["success_rate"], r["failure_count"], r["webhook_events"])
            for r in api.get("/v1/requests/byoc/auth")}
    assert auth == {CHAT: (2, 0.5, 1, 0), IMAGE: (1, 1.0, 0, 0), "video-style-transfer": (1, 1.0, 0, 1)}


def test_models_orchestrators_and_dashboard(fixture_api):
    api = fixture_api
    models = {(m["job_type"], m["pipeline"], m["model"]): m for m in api.get("/v1/requests/models")}
    qwen = models[("byoc", CHAT, QWEN)]
    assert (qwen["warm_orch_count"], qwen["job_count_24h"], qwen["success_rate"], qwen["avg_duration_ms"]) == (
        1, 2, 1.0, 4134.0)
    assert qwen["gpu_slots"] == 0
    assert models[("byoc", IMAGE, FLUX)]["job_count_24h"] == 1
    # Asked for, offered by nobody in the window (no capability snapshots).
    llm = models[("ai-batch", "llm", "meta-llama/Meta-Llama-3.1-8B-Instruct")]
    assert (llm["warm_orch_count"], llm["job_count_24h"]) == (0, 3)
    orchestrators = {o["address"]: o for o in api.get("/v1/requests/orchestrators")}
    assert orchestrators[O1]["capabilities"] == [f"{CHAT}:{QWEN}", f"{IMAGE}:{FLUX}"]
    assert orchestrators[O2]["capabilities"] == [f"{CHAT}:{LLAMA}"]
    assert orchestrators[O2]["last_seen"] == "2026-04-15T12:50:05.117Z"
    # The second gateway's copy of O1's registration is when it was last seen.
    assert orchestrators[O1]["last_seen"] == "2026-04-15T12:00:07.902Z"
    assert orchestrators[O1]["gpu_count"] == 0
    work = {(w["orchestrator"], w["family"]): w for w in api.get("/v1/requests/by-orchestrator")}
    assert (work[(O1, "byoc")]["total_jobs"], work[(O1, "byoc")]["p50_ttft_ms"]) == (3, None)
    assert work[(O1, "byoc")]["success_rate"] == pytest.approx(2 / 3)
    orch_a = next(w for (o, f), w in work.items() if f == "ai-batch" and o.startswith("https://orch-a."))
    assert orch_a["total_jobs"] == 3 and orch_a["p50_ttft_ms"] == pytest.approx(361, rel=0.02)
    kpi = api.get("/v1/dashboard/kpi", HOUR)
    ai, byoc = kpi["requests"]["ai_batch"], kpi["requests"]["byoc"]
    assert (ai["total_jobs"], ai["selected_jobs"], ai["no_orch_jobs"]) == (6, 5, 1)
    assert ai["success_rate"] == pytest.approx(2 / 3) and ai["avg_duration_ms"] == pytest.approx(1267.8333333333333)
    assert (byoc["total_jobs"], byoc["selected_jobs"], byoc["no_orch_jobs"], byoc["avg_duration_ms"]) == (
        6, 5, 1, 4134.0)
    assert kpi["window"] == "custom" and kpi["start"] == "2026-04-15T12:00:00.000Z"
    # As in NaaP, limit shortens the live pipelines only.
    pipelines = api.get("/v1/dashboard/pipelines", {**HOUR, "limit": 2})["requests"]
    assert [p["pipeline"] for p in pipelines["by_pipeline"]] == ["llm", "text-to-image", "audio-to-text"]
    assert pipelines["by_capability"][0]["capability"] == CHAT
    # The last 24 hours hold none of the fixture's April hour.
    recent = api.get("/v1/dashboard/kpi", {})
    assert recent["window"] == "24h" and recent["requests"]["byoc"] == {
        "total_jobs": 0, "selected_jobs": 0, "no_orch_jobs": 0, "success_rate": 0.0, "avg_duration_ms": 0.0}


def test_bad_parameters_are_refused_with_a_reason(fixture_api):
    api = fixture_api
    for path, params, word in [
        ("/v1/requests/ai-batch/summary", {"start": "yesterday"}, "start"),
        ("/v1/requests/byoc/workers", {"start": HOUR["end"], "end": HOUR["start"]}, "before"),
        ("/v1/requests/ai-batch/summary", {"end": "9999-12-31T23:59:59Z"}, "2262"),
        ("/v1/requests/ai-batch/jobs", {"limit": "0"}, "limit"),
        ("/v1/requests/ai-batch/jobs", {"limit": "99999999999999999999999"}, "limit"),
        ("/v1/requests/ai-batch/jobs", [("limit", "1"), ("limit", "2")], "limit"),
        ("/v1/requests/ai-batch/jobs", {"limit": "1001"}, "limit"),
        ("/v1/requests/byoc/jobs", {"offset": "10"}, "offset"),
        ("/v1/requests/byoc/jobs", {"page_size": "10"}, "page_size"),
        ("/v1/requests/byoc/jobs", {"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ("/v1/dashboard/kpi", {"window": "soon"}, "window"),
        ("/v1/dashboard/kpi", {"window": "0h"}, "window"),
        ("/v1/dashboard/job-feed", {"limit": "0"}, "limit"),
        ("/v1/streaming/sla", {"page": "2"}, "page"),
        ("/v1/streaming/demand", {"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ("/v1/streaming/gpu-metrics", {"limit": "1001"}, "limit"),
        ("/v1/dashboard/pipelines", {"window": "24h", "start": HOUR["start"]}, "window"),
    ]:
        answer = api.get(path, params, status=400)
        assert answer["reason"] == "bad_request" and word in answer["error"], (path, answer)


def test_a_lake_without_these_families_answers_empty(naap_bin, serve_lake, tmp_path):
    """Live-video events only: no table these endpoints read exists yet."""
    lake = tmp_path / "lake"
    run([naap_bin, "replay", "--input", str(LIVE_SAMPLE), "--format", "livepeer-json", "--lake", str(lake)])
    _, http_port = serve_lake(lake)
    api = Api(http_port)
    for path in PATHS:
        answer = api.get(path, {})
        if isinstance(answer, list):
            assert path in ("/v1/requests/models", "/v1/requests/orchestrators") or answer == [], (path, answer)
        elif "data" in answer:
            assert answer["data"] == [] and answer["pagination"]["has_more"] is False, (path, answer)


def test_the_perf_stats_feed_ranks_orchestrators_by_the_jobs_rule(fixture_api):
    api = fixture_api
    status, body = api.fetch("/orch-perf-stats", {"rule": "jobs", "version": "1"})
    assert status == 200, body
    feed = json.loads(body)
    # O1 served both its chat jobs and refused the image job's balance
    # (2 of 3, weighted by jobs tried); O2 failed both it was tried for. AI
    # batch orchestrators are named by URL until resolved.
    o1, o2 = feed[O1], feed[O2]
    region = next(iter(o1))
    assert o1[region]["score"] > o2[region]["score"] > 0, feed
    assert o1[region]["success_rate"] == pytest.approx(2 / 3) and o2[region]["success_rate"] == 0.0
    assert any(k.startswith("https://orch-a.") for k in feed), sorted(feed)


def test_the_router_ranks_byoc_runners_by_the_jobs_rule(fixture_api):
    api = fixture_api
    selection = api.get("/v1/select", {"pipeline": CHAT, "model": QWEN, "seed": "1"})
    assert (selection["rule"], selection["rule_version"]) == ("jobs", 1), selection
    # O1 runs the only Qwen chat runner; O2's runner is gone by the hour's
    # end. Both its jobs succeeded; with 2 duration samples its latency part
    # is shrunk toward 0.5: 100 × (0.7 + 0.3 × 0.6) = 88.
    [choice] = selection["choices"]
    assert (choice["address"], choice["reason"]) == (O1, "ranked"), choice
    assert choice["uri"].startswith("https://orch-a.") and choice["score"] == pytest.approx(0.88)
    assert selection["window_start"].startswith("2026-04-15")


def test_every_new_table_is_served_over_flight_sql(fixture_api):
    import adbc_driver_flightsql.dbapi as flightsql
    rows = {"ai_batch_events": 12, "llm_events": 6, "byoc_job_events": 23, "byoc_auth_events": 4,
            "byoc_payment_events": 9, "worker_events": 6, "ai_requests": 6, "llm_requests": 3, "byoc_attempts": 6,
            "byoc_jobs": 6, "byoc_workers": 3, "requests_hourly": 9, "byoc_auth_hourly": 4,
            "byoc_payments_hourly": 7, "jobs_hourly": 7}
    with flightsql.connect(fixture_api.flight) as conn, conn.cursor() as cur:
        for table, count in rows.items():
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone()[0] == count, table
        cur.execute("SELECT ddsketch_quantile(ddsketch_merge(ttft_sketch), 0.5) FROM requests_hourly "
                    "WHERE pipeline = 'llm'")
        assert cur.fetchone()[0] == pytest.approx(361, rel=0.02)
