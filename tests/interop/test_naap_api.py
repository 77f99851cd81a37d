"""Every GET path of NaaP's analytics API (Cloud-SPE/livepeer-naap-analytics
at 94d6241) over a lake replayed from the recorded live-video sample and
the 2026 AI batch / BYOC sample: each answer has NaaP's shape (bare list,
bare object or cursor page), its field names and JSON types, nulls only
where NaaP's schema allows them, and the figures the fixtures fix.

The expected fields are this test's own, written from NaaP's published
schemas: `s` string, `i` integer, `n` number, `b` boolean, `a` array,
`o` object; `?` after a type allows null; `-` before a name allows the
field to be left out (NaaP's `omitempty`)."""
import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from conftest import run
from test_requests_api import Api

ROOT = Path(__file__).resolve().parents[2]
LIVE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
JOBS = ROOT / "data" / "livepeer" / "ai-batch-byoc-sample.ndjson"
LIVE_HOUR = {"start": "2026-01-08T21:00:00Z", "end": "2026-01-08T22:00:00Z"}
LIVE_END = {"end": "2026-01-08T22:00:00Z"}
JOBS_HOUR = {"start": "2026-04-15T12:00:00Z", "end": "2026-04-15T13:00:00Z"}
ORCH = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"
MODEL = "streamdiffusion-sdxl-faceid"
GPU = "GPU-a8d13655-197b-2226-d09f-b4b81e07504b"

DELTA = "value:n delta:n"
JOB_STATS = "total_jobs:i selected_jobs:i no_orch_jobs:i success_rate:n avg_duration_ms:n"
ROWS = {
    "kpi": "streaming:o requests:o",
    "kpi.streaming": f"successRate:o orchestratorsObserved:o dailyUsageMins:o dailySessionCount:o "
                     f"dailyNetworkFeesEth:o timeframeHours:i -hourlySessions:a -hourlyUsage:a",
    "delta": DELTA,
    "hourly": "hour:s value:n",
    "jobs_overview": "ai_batch:o byoc:o",
    "job_stats": JOB_STATS,
    "pipelines": "streaming:a requests:o",
    "pipelines.streaming": "name:s mins:n sessions:i avgFps:n -modelMins:a",
    "model_mins": "model:s mins:n sessions:i avgFps:n",
    "by_pipeline": "pipeline:s " + JOB_STATS,
    "by_capability": "capability:s " + JOB_STATS,
    "dashboard_orchestrator": "address:s -serviceUri:s knownSessions:i successSessions:i successRatio:n "
                              "effectiveSuccessRate:n? noSwapRatio:n? slaScore:n? pipelines:a pipelineModels:a "
                              "gpuCount:i",
    "pipeline_models": "pipelineId:s modelIds:a",
    "gpu_capacity": "totalGPUs:i activeGPUs:i availableCapacity:n models:a pipelineGPUs:a",
    "gpu_model": "model:s count:i",
    "pipeline_gpus": "name:s gpus:i -models:a",
    "model_gpus": "model:s gpus:i",
    "catalog": "id:s name:s models:a regions:a",
    "pricing": "orchAddress:s -orchName:s pipeline:s -model:s priceWeiPerUnit:i pixelsPerUnit:i isWarm:b",
    "job_feed": "id:s pipeline:s -model:s gateway:s -orchestratorUrl:s state:s inputFps:n outputFps:n "
                "firstSeen:s lastSeen:s durationSeconds:n?",
    "streaming_model": "pipeline:s model:s warm_orch_count:i gpu_slots:i active_streams:i available_capacity:i "
                       "avg_fps:n",
    "streaming_orchestrator": "address:s uri:s models:a gpu_count:i last_seen:s",
    "sla": "window_start:s org:s orchestrator_address:s pipeline_id:s model_id:s gpu_id:s requested_sessions:i "
           "startup_success_sessions:i effective_success_rate:n no_swap_rate:n avg_output_fps:n sla_score:n",
    "demand": "window_start:s org:s gateway:s pipeline_id:s model_id:s requested_sessions:i "
              "startup_success_sessions:i effective_success_rate:n total_minutes:n no_orch_sessions:i",
    "gpu_metrics": "window_start:s org:s orchestrator_address:s pipeline_id:s model_id:s gpu_id:s gpu_model_name:s "
                   "known_sessions_count:i startup_success_sessions:i avg_output_fps:n avg_e2e_latency_ms:n "
                   "swap_rate:n",
    "requests_model": "pipeline:s model:s job_type:s warm_orch_count:i gpu_slots:i job_count_24h:i "
                      "success_rate:n avg_duration_ms:n",
    "requests_orchestrator": "address:s uri:s capabilities:a gpu_count:i last_seen:s",
    "ai_summary": "pipeline:s " + JOB_STATS,
    "ai_job": "request_id:s org:s gateway:s pipeline:s model_id:s completed_at:s success:b tries:i duration_ms:i "
              "orch_url:s selection_outcome:s gpu_model_name:s attribution_status:s",
    "llm_summary": "model:s total_requests:i success_rate:n avg_tokens_per_sec:n avg_ttft_ms:n avg_total_tokens:n",
    "byoc_summary": "capability:s " + JOB_STATS,
    "byoc_job": "request_id:s org:s capability:s model:s completed_at:s success:b duration_ms:i http_status:i "
                "orch_address:s orch_url:s worker_url:s selection_outcome:s gpu_model_name:s attribution_status:s "
                "error:s",
    "byoc_worker": "capability:s worker_count:i models:a avg_price_per_unit:n",
    "byoc_auth": "capability:s total_events:i success_rate:n failure_count:i",
    "discover": "address:s score:n capabilities:a last_seen_ms:i last_seen:s recent_work:b",
    "healthz": "status:s",
    "pagination": "next_cursor:s has_more:b page_size:i",
    "meta": "generated_at:s request_id:s",
}
TYPES = {"s": str, "i": int, "n": (int, float), "b": bool, "a": list, "o": dict}


def check(row, schema, where):
    """`row` has every field of `schema` (ROWS' notation) with its type."""
    assert isinstance(row, dict), (where, row)
    for field in ROWS[schema].split():
        name, kind = field.split(":")
        optional, name = name.startswith("-"), name.lstrip("-")
        nullable, kind = kind.endswith("?"), kind.rstrip("?")
        if name not in row:
            assert optional, f"{where}: {name} is missing from {row}"
            continue
        value = row[name]
        if value is None:
            assert nullable, f"{where}: {name} is null, which NaaP's schema does not allow"
            continue
        ok = isinstance(value, TYPES[kind]) and not (kind in "in" and isinstance(value, bool))
        assert ok, f"{where}: {name} = {value!r} is not {kind}"
    return row


def check_all(rows, schema, where):
    assert isinstance(rows, list), (where, rows)
    return [check(r, schema, f"{where}[{i}]") for i, r in enumerate(rows)]


def check_page(page, schema, where):
    check(page["pagination"], "pagination", where)
    check(page["meta"], "meta", where)
    assert page["pagination"]["page_size"] == len(page["data"])
    assert page["pagination"]["has_more"] == (page["pagination"]["next_cursor"] != "")
    return check_all(page["data"], schema, where)


class Naap:
    """GETs on one server; every 200 is also checked against the schema
    `/openapi.json` documents for it (with the `jsonschema` package)."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.documented = Api(port)

    def get(self, path, params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=60) as answer:
            assert answer.headers["content-type"].startswith("application/json"), (path, answer.headers)
            body = json.loads(answer.read())
        jsonschema.Draft202012Validator(self.documented.schema(path, 200),
                                        registry=self.documented.registry).validate(body)
        return body


def serving(naap_bin, tmp, lake):
    """`naap serve` over `lake` until the module's tests are done."""
    from conftest import Proc, free_port, port_open, wait_until
    http_port = free_port()
    proc = Proc([naap_bin, "serve", "--lake", str(lake), "--flight-addr", f"127.0.0.1:{free_port()}",
                 "--http-addr", f"127.0.0.1:{http_port}"], tmp / "serve.log")
    wait_until(lambda: port_open(http_port), 30, "naap serve")
    return proc, Naap(http_port)


@pytest.fixture(scope="module")
def naap(naap_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("naap_api")
    lake = tmp / "lake"
    for sample in (LIVE, JOBS):
        run([naap_bin, "replay", "--input", str(sample), "--format", "livepeer-json", "--lake", str(lake)])
    proc, api = serving(naap_bin, tmp, lake)
    yield api
    proc.stop()


def test_dashboard_paths(naap):
    kpi = check(naap.get("/v1/dashboard/kpi", LIVE_HOUR), "kpi", "kpi")
    streaming = check(kpi["streaming"], "kpi.streaming", "kpi.streaming")
    for name in ("successRate", "orchestratorsObserved", "dailyUsageMins", "dailySessionCount", "dailyNetworkFeesEth"):
        check(streaming[name], "delta", name)
    check_all(streaming["hourlySessions"], "hourly", "hourlySessions")
    check_all(streaming["hourlyUsage"], "hourly", "hourlyUsage")
    for family in ("ai_batch", "byoc"):
        check(check(kpi["requests"], "jobs_overview", "requests")[family], "job_stats", family)
    # One requested session, started and playable; one orchestrator offered live video.
    assert streaming["successRate"]["value"] == 100.0 and streaming["dailySessionCount"]["value"] == 1.0
    assert streaming["orchestratorsObserved"]["value"] == 1.0 and streaming["timeframeHours"] == 1
    assert streaming["hourlySessions"] == [{"hour": "2026-01-08T21:00:00Z", "value": 1.0}]
    # NaaP's window: bare hours, days, clamped to 168 hours.
    for window, hours in [("6", 6), ("2d", 48), ("30d", 168)]:
        assert naap.get("/v1/dashboard/kpi", {"window": window})["streaming"]["timeframeHours"] == hours

    pipelines = check(naap.get("/v1/dashboard/pipelines", LIVE_HOUR), "pipelines", "pipelines")
    [live] = check_all(pipelines["streaming"], "pipelines.streaming", "streaming")
    [model] = check_all(live["modelMins"], "model_mins", "modelMins")
    assert (live["name"], live["sessions"], model["model"]) == ("live-video-to-video", 1, MODEL)
    assert live["avgFps"] > 0 and live["mins"] > 0
    jobs = naap.get("/v1/dashboard/pipelines", JOBS_HOUR)["requests"]
    check_all(jobs["by_pipeline"], "by_pipeline", "by_pipeline")
    check_all(jobs["by_capability"], "by_capability", "by_capability")

    [orch] = check_all(naap.get("/v1/dashboard/orchestrators", LIVE_HOUR), "dashboard_orchestrator", "orchestrators")
    check_all(orch["pipelineModels"], "pipeline_models", "pipelineModels")
    assert (orch["address"], orch["knownSessions"], orch["successSessions"], orch["gpuCount"]) == (ORCH, 1, 1, 1)
    assert orch["serviceUri"] == "https://rtav-orch2.xodeapp.xyz:28935"
    assert orch["pipelines"] == ["live-video-to-video"]
    assert orch["pipelineModels"] == [{"pipelineId": "live-video-to-video", "modelIds": [MODEL]}]

    capacity = check(naap.get("/v1/dashboard/gpu-capacity", LIVE_END), "gpu_capacity", "gpu-capacity")
    check_all(capacity["models"], "gpu_model", "models")
    for p in check_all(capacity["pipelineGPUs"], "pipeline_gpus", "pipelineGPUs"):
        check_all(p["models"], "model_gpus", "pipelineGPUs.models")
    assert (capacity["totalGPUs"], capacity["models"]) == (1, [{"model": "NVIDIA GeForce RTX 5090", "count": 1}])
    # The open session (last seen 21:51) runs on the one GPU.
    assert (capacity["activeGPUs"], capacity["availableCapacity"]) == (1, 0)

    catalog = check_all(naap.get("/v1/dashboard/pipeline-catalog", LIVE_END), "catalog", "pipeline-catalog")
    assert catalog == [{"id": "live-video-to-video", "name": "live-video-to-video", "models": [MODEL], "regions": []}]

    [price] = check_all(naap.get("/v1/dashboard/pricing", LIVE_END), "pricing", "pricing")
    assert price == {"orchAddress": ORCH, "orchName": "rtav-orch2.xodeapp.xyz", "pipeline": "live-video-to-video",
                     "model": MODEL, "priceWeiPerUnit": 1618, "pixelsPerUnit": 1, "isWarm": True}

    [job] = check_all(naap.get("/v1/dashboard/job-feed", LIVE_END), "job_feed", "job-feed")
    assert (job["id"], job["state"], job["model"]) == ("8b35b1b6-38ca-4acb-bc55-84ecc5cb73b5", "ONLINE", MODEL)
    assert job["inputFps"] == pytest.approx(17.28361801542751) and job["outputFps"] == pytest.approx(16.983902096084837)
    assert job["firstSeen"] == "2026-01-08T21:49:05Z"
    assert naap.get("/v1/dashboard/job-feed", {**LIVE_END, "limit": "500"}) == [job], "clamped, not refused"


def test_streaming_paths(naap):
    [model] = check_all(naap.get("/v1/streaming/models", LIVE_END), "streaming_model", "models")
    assert (model["model"], model["warm_orch_count"], model["gpu_slots"], model["active_streams"]) == (MODEL, 1, 1, 1)
    assert model["available_capacity"] == 0 and model["avg_fps"] > 0
    [orch] = check_all(naap.get("/v1/streaming/orchestrators", LIVE_END), "streaming_orchestrator", "orchestrators")
    assert (orch["address"], orch["models"], orch["gpu_count"]) == (ORCH, [MODEL], 1)
    assert orch["last_seen"] == "2026-01-08T21:50:21.590Z"

    [sla] = check_page(naap.get("/v1/streaming/sla", LIVE_HOUR), "sla", "sla")
    assert (sla["window_start"], sla["orchestrator_address"], sla["model_id"], sla["gpu_id"]) == (
        "2026-01-08T21:00:00Z", ORCH, MODEL, GPU)
    assert (sla["requested_sessions"], sla["startup_success_sessions"], sla["effective_success_rate"]) == (1, 1, 1.0)
    [demand] = check_page(naap.get("/v1/streaming/demand", LIVE_HOUR), "demand", "demand")
    assert (demand["requested_sessions"], demand["startup_success_sessions"], demand["no_orch_sessions"]) == (1, 1, 0)
    assert demand["total_minutes"] > 0
    [gpu] = check_page(naap.get("/v1/streaming/gpu-metrics", LIVE_HOUR), "gpu_metrics", "gpu-metrics")
    assert (gpu["gpu_id"], gpu["gpu_model_name"], gpu["known_sessions_count"]) == (GPU, "NVIDIA GeForce RTX 5090", 1)


def test_pages_echo_the_clients_request_id(naap):
    """NaaP's `meta.request_id` is the client's `X-Request-Id`."""
    for path, params in [("/v1/streaming/sla", LIVE_HOUR), ("/v1/requests/ai-batch/jobs", JOBS_HOUR)]:
        url = naap.base + path + "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"X-Request-Id": "gw-eu-7f3a"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert json.loads(answer.read())["meta"]["request_id"] == "gw-eu-7f3a", path
        # Without one (or an unprintable or overlong one), an id of its own.
        own = naap.get(path, params)["meta"]["request_id"]
        assert own and own != "gw-eu-7f3a"


def test_streaming_pages_follow_naaps_cursor(naap):
    """The AI sample's hours have no live video; the simulated network has."""
    page = naap.get("/v1/streaming/demand", {**JOBS_HOUR, "limit": "1"})
    assert page["data"] == [] and page["pagination"] == {"next_cursor": "", "has_more": False, "page_size": 0}
    sla = naap.get("/v1/streaming/sla", {**LIVE_HOUR, "limit": "1"})
    assert sla["pagination"]["has_more"] is False
    cursor = base64.urlsafe_b64encode(json.dumps(["1767909600000", ORCH, "live-video-to-video", MODEL, GPU])
                                      .encode()).decode().rstrip("=")
    after = naap.get("/v1/streaming/sla", {**LIVE_HOUR, "cursor": cursor})
    assert len(after["data"]) == 1, "an hour before the cursor's comes after it"


def test_requests_discovery_and_health_paths(naap):
    check_all(naap.get("/v1/requests/models", JOBS_HOUR), "requests_model", "requests/models")
    check_all(naap.get("/v1/requests/orchestrators", JOBS_HOUR), "requests_orchestrator", "requests/orchestrators")
    check_all(naap.get("/v1/requests/ai-batch/summary", JOBS_HOUR), "ai_summary", "ai-batch/summary")
    jobs = check_page(naap.get("/v1/requests/ai-batch/jobs", JOBS_HOUR), "ai_job", "ai-batch/jobs")
    assert len(jobs) == 6 and any(j["selection_outcome"] == "no_orch" and j["orch_url"] == "" for j in jobs)
    check_all(naap.get("/v1/requests/ai-batch/llm-summary", JOBS_HOUR), "llm_summary", "llm-summary")
    check_all(naap.get("/v1/requests/byoc/summary", JOBS_HOUR), "byoc_summary", "byoc/summary")
    byoc = check_page(naap.get("/v1/requests/byoc/jobs", JOBS_HOUR), "byoc_job", "byoc/jobs")
    assert len(byoc) == 6
    check_all(naap.get("/v1/requests/byoc/workers", JOBS_HOUR), "byoc_worker", "byoc/workers")
    check_all(naap.get("/v1/requests/byoc/auth", JOBS_HOUR), "byoc_auth", "byoc/auth")
    check_all(naap.get("/v1/discover/orchestrators", {}), "discover", "discover")
    assert check(naap.get("/healthz", {}), "healthz", "healthz")["status"] == "ok"


@pytest.fixture(scope="module")
def simulated(naap_bin, tmp_path_factory):
    """Three hours of four simulated orchestrators' live video."""
    tmp = tmp_path_factory.mktemp("naap_api_sim")
    events, lake = tmp / "live.ndjson", tmp / "lake"
    run([naap_bin, "emit", "--simulate", "4", "--gateway-live", "--from", "2026-03-01T00:00:00Z", "--span", "3h",
         "--output", str(events)])
    run([naap_bin, "replay", "--input", str(events), "--format", "livepeer-json", "--lake", str(lake)])
    proc, api = serving(naap_bin, tmp, lake)
    yield api
    proc.stop()


@pytest.mark.parametrize("path", ["/v1/streaming/sla", "/v1/streaming/demand", "/v1/streaming/gpu-metrics"])
def test_cursor_pages_add_up_to_the_whole_list(simulated, path):
    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T03:00:00Z"}
    whole = simulated.get(path, {**window, "limit": "1000"})
    assert not whole["pagination"]["has_more"] and len(whole["data"]) > 4, whole["pagination"]
    hours = [r["window_start"] for r in whole["data"]]
    assert hours == sorted(hours, reverse=True) and len(set(hours)) == 3
    paged, cursor = [], ""
    while True:
        page = simulated.get(path, {**window, "limit": "2", "cursor": cursor})
        paged += page["data"]
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            break
    assert paged == whole["data"]


HOSTILE = ["", " ", "-1", "0", "1.5", "99999999999999999999", "NaN", "inf", "1e308", "24H", "7w", "-7d",
           "'; DROP TABLE sessions --", "\x00", "%00", "é" * 50, "a" * 3000, "[]", "{}",
           "2262-04-12T00:00:00Z", "1677-01-01T00:00:00Z", "2026-01-08T21:00:00+14:00"]
CURSORS = [base64.urlsafe_b64encode(json.dumps(v).encode()).decode().rstrip("=") for v in (
    ["-1", "a", "b", "c", "d"], ["99999999999999999999", "", "", "", ""], [None, 1, 2, 3, 4], {"a": 1},
    ["1767909600000"] * 300, "x" * 1000, ["1767909600000", "a", "b", "c"])] + ["!!", "=" * 10, "A" * 6000]


@pytest.mark.parametrize("path", [
    "/v1/dashboard/kpi", "/v1/dashboard/pipelines", "/v1/dashboard/orchestrators", "/v1/dashboard/gpu-capacity",
    "/v1/dashboard/pipeline-catalog", "/v1/dashboard/pricing", "/v1/dashboard/job-feed", "/v1/streaming/models",
    "/v1/streaming/orchestrators", "/v1/streaming/sla", "/v1/streaming/demand", "/v1/streaming/gpu-metrics"])
def test_hostile_parameters_get_an_answer_or_a_reason(naap, path):
    """Every parameter NaaP or naap reads, and the cursor, with values meant
    to break a parser: a 200 or a 400 naming the parameter, never a 500."""
    params = ["window", "start", "end", "limit", "cursor", "pipeline", "model_id", "offset"]
    sent = [(p, v) for p in params for v in HOSTILE] + [("cursor", c) for c in CURSORS]
    for name, value in sent:
        url = naap.base + path + "?" + urllib.parse.urlencode({name: value})
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        assert status in (200, 400) or (status == 414 and len(url) > 8192), (path, name, value[:40], status)
        doc = json.loads(body)
        if status == 400:
            assert doc["reason"] == "bad_request" and doc["error"], (path, name, doc)
    assert naap.get("/healthz", {})["status"] == "ok"
