// A response's plan, token selection and deadline as JSON: what `run --json`, the server's
// `adallava` object and the bindings report, in one place.
#pragma once
#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace adallava {

// {"cpu": model, "set": tier, "forced": bool, "ops": {operation: kernel set}} for --json output.
nlohmann::json kernels_json();
// {"executed_layers": [...], "layers": [{"layer", "heads", "mlp_groups"}, ...]}
nlohmann::json plan_json(const ExecutionPlan& plan);
// budget, units, executed_fraction, plan_source, plan (and the scheduler time) of a request.
void add_plan_report(nlohmann::json& j, const PlanReport& r);
// deadline_ms, predicted_ms, met and the predicted time per phase of a request with a deadline.
void add_deadline_report(nlohmann::json& j, const Response& r);
// token_selection, image_tokens, image_tokens_kept.
void add_selection_report(nlohmann::json& j, const Response& r);
// The whole report of a request (`run --json`, the C API): text, ids, prompt and token counts,
// finish reason, precision, kernels, timings, plan, deadline and token selection.
nlohmann::json response_json(const Response& r, Precision precision);

}  // namespace adallava
