// The C API (include/adallava.h) over the engine: each entry point catches every exception and
// turns it into a return value plus the thread's last error.
#include "adallava.h"

#include <omp.h>

#include <cstring>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/response_json.h"
#include "kernels/kernel_set.h"
#include "tensor/error.h"

struct adallava_model {
  std::unique_ptr<adallava::Engine> engine;
  int threads = 0;
};
struct adallava_image {
  adallava::RgbImage rgb;
};
struct adallava_result {
  adallava::Response response;
  adallava::Precision precision;
  std::string json;  // made on first ask: a caller that does not read it does not pay for it
};

namespace {

thread_local std::string g_last_error;

// Runs f, returning its value; on an exception records the message and returns `failed`.
template <class F, class T>
T guarded(F&& f, T failed) {
  try {
    g_last_error.clear();
    return f();
  } catch (const std::exception& e) {
    g_last_error = e.what();
  } catch (...) {
    g_last_error = "unknown error";
  }
  return failed;
}

void require(bool ok, const char* message) {
  if (!ok) throw adallava::Error(message);
}

adallava::Precision precision_named(const std::string& s) {
  if (s == "f32") return adallava::Precision::F32;
  if (s == "bf16") return adallava::Precision::BF16;
  if (s == "q8") return adallava::Precision::Q8;
  throw adallava::Error("precision '" + s + "' is not f32, bf16 or q8");
}

// The engine request of the C parameters (ids or a prompt, image, sampling, budget or deadline).
adallava::Request request_of(const adallava_generate_params& p) {
  require(p.prompt || (p.ids && p.n_ids > 0), "adallava_generate: give a prompt or ids");
  require(p.max_tokens > 0, "adallava_generate: max_tokens must be positive");
  require(p.budget >= 0 && p.budget <= 1, "adallava_generate: budget must be in [0, 1]");
  require(p.deadline_ms >= 0, "adallava_generate: deadline_ms must be positive (0: none)");
  adallava::Request r;
  if (p.ids && p.n_ids > 0) r.ids.assign(p.ids, p.ids + p.n_ids);
  else r.prompt = p.prompt;
  if (p.image) r.image = p.image->rgb;
  r.max_new_tokens = p.max_tokens;
  r.sampling.temperature = p.temperature;
  r.sampling.top_p = p.top_p;
  r.sampling.top_k = p.top_k;
  r.sampling.seed = p.seed;
  r.plan.budget = p.budget;
  if (p.deadline_ms > 0) r.deadline_ms = p.deadline_ms;
  return r;
}

// Runs the request on the model's thread count (OpenMP's is per calling thread).
struct ModelThreads {
  explicit ModelThreads(const adallava_model* m) : before(omp_get_max_threads()) {
    if (m->threads > 0) omp_set_num_threads(m->threads);
  }
  ~ModelThreads() { omp_set_num_threads(before); }
  int before;
};

}  // namespace

extern "C" {

const char* adallava_version(void) { return ADALLAVA_VERSION; }
const char* adallava_last_error(void) { return g_last_error.c_str(); }

void adallava_load_params_init(adallava_load_params* p) {
  if (p) *p = adallava_load_params{0, nullptr, nullptr};
}

adallava_model* adallava_load(const char* path, const adallava_load_params* p) {
  return guarded(
      [&] {
        require(path != nullptr, "adallava_load: path is NULL");
        adallava_load_params params;
        adallava_load_params_init(&params);
        if (p) params = *p;
        require(params.threads >= 0, "adallava_load: threads must be 0 (every core) or positive");
        adallava::EngineOptions o;
        if (params.mmproj) o.mmproj = params.mmproj;
        if (params.precision) o.precision = precision_named(params.precision);
        auto m = std::make_unique<adallava_model>();
        m->threads = params.threads;
        ModelThreads threads(m.get());
        m->engine = adallava::Engine::load(path, o);
        return m.release();
      },
      static_cast<adallava_model*>(nullptr));
}

void adallava_free(adallava_model* m) { delete m; }

int adallava_is_adaptive(const adallava_model* m) { return m && m->engine->model().adaptive() ? 1 : 0; }
int adallava_n_layers(const adallava_model* m) { return m ? m->engine->model().config().text.num_layers : -1; }
int adallava_n_vocab(const adallava_model* m) { return m ? m->engine->model().config().text.vocab_size : -1; }

int64_t adallava_prompt_ids(const adallava_model* m, const char* question, int with_image, int64_t* ids,
                            size_t cap) {
  return guarded(
      [&] {
        require(m != nullptr && question != nullptr, "adallava_prompt_ids: model or question is NULL");
        const std::vector<int64_t> all = m->engine->question_ids(question, with_image != 0);
        for (size_t i = 0; i < cap && i < all.size(); ++i) ids[i] = all[i];
        return int64_t(all.size());
      },
      int64_t(-1));
}

adallava_image* adallava_image_from_bytes(const uint8_t* bytes, size_t n) {
  return guarded(
      [&] {
        require(bytes != nullptr && n > 0, "adallava_image_from_bytes: no bytes");
        return new adallava_image{adallava::decode_image(bytes, n, "image")};
      },
      static_cast<adallava_image*>(nullptr));
}

adallava_image* adallava_image_from_rgb(const uint8_t* rgb, int width, int height) {
  return guarded(
      [&] {
        require(rgb != nullptr, "adallava_image_from_rgb: rgb is NULL");
        require(width > 0 && height > 0 && int64_t(width) * height <= adallava::kMaxImagePixels,
                "adallava_image_from_rgb: width and height must be positive and within the image pixel limit");
        adallava::RgbImage im;
        im.width = width, im.height = height;
        im.pixels.assign(rgb, rgb + size_t(width) * size_t(height) * 3);
        return new adallava_image{std::move(im)};
      },
      static_cast<adallava_image*>(nullptr));
}

void adallava_image_free(adallava_image* image) { delete image; }

void adallava_generate_params_init(adallava_generate_params* p) {
  if (!p) return;
  std::memset(p, 0, sizeof(*p));
  p->max_tokens = 128;
  p->top_p = 1.f;
  p->budget = 1.0;
}

adallava_result* adallava_generate(adallava_model* m, const adallava_generate_params* p) {
  return guarded(
      [&] {
        require(m != nullptr && p != nullptr, "adallava_generate: model or params is NULL");
        const adallava::Request req = request_of(*p);
        adallava::TokenCallback on_token;
        if (p->on_token)
          on_token = [p](const adallava::TokenEvent& e) { return p->on_token(e.id, e.text.c_str(), p->user) != 0; };
        ModelThreads threads(m);
        auto r = std::make_unique<adallava_result>();
        r->response = m->engine->generate(req, on_token);
        r->precision = m->engine->precision();
        return r.release();
      },
      static_cast<adallava_result*>(nullptr));
}

const char* adallava_result_text(const adallava_result* r) { return r ? r->response.text.c_str() : ""; }

size_t adallava_result_ids(const adallava_result* r, const int64_t** ids) {
  if (!r) return 0;
  if (ids) *ids = r->response.ids.data();
  return r->response.ids.size();
}

const char* adallava_result_finish_reason(const adallava_result* r) {
  return r ? r->response.finish_reason.c_str() : "";
}
double adallava_result_budget(const adallava_result* r) { return r ? r->response.plan.budget : 0; }
double adallava_result_executed_fraction(const adallava_result* r) {
  return r ? r->response.plan.executed_fraction : 0;
}

int adallava_result_executed_layers(const adallava_result* r, int* layers, int cap) {
  if (!r) return -1;
  const std::vector<int> ran = r->response.plan.plan.executed_layers();
  for (int i = 0; i < cap && i < int(ran.size()); ++i) layers[i] = ran[size_t(i)];
  return int(ran.size());
}

const char* adallava_result_json(const adallava_result* r) {
  if (!r) return "";
  auto* mut = const_cast<adallava_result*>(r);  // the cache only: a result belongs to one thread
  if (mut->json.empty()) mut->json = adallava::response_json(r->response, r->precision).dump();
  return r->json.c_str();
}
void adallava_result_free(adallava_result* r) { delete r; }

int64_t adallava_logits(adallava_model* m, const int64_t* ids, size_t n_ids, const adallava_image* image,
                        double budget, float** logits) {
  return guarded(
      [&] {
        require(m != nullptr && ids != nullptr && n_ids > 0 && logits != nullptr,
                "adallava_logits: model, ids and logits must be given");
        require(budget >= 0 && budget <= 1, "adallava_logits: budget must be in [0, 1]");
        adallava::Request req;
        req.ids.assign(ids, ids + n_ids);
        if (image) req.image = image->rgb;
        req.plan.budget = budget;
        ModelThreads threads(m);
        int64_t rows = 0;
        const std::vector<float> all = m->engine->logits(req, &rows);
        *logits = static_cast<float*>(std::malloc(all.size() * sizeof(float)));
        require(*logits != nullptr, "adallava_logits: out of memory");
        std::memcpy(*logits, all.data(), all.size() * sizeof(float));
        return rows;
      },
      int64_t(-1));
}

void adallava_free_floats(float* p) { std::free(p); }

char* adallava_plan_json(adallava_model* m, const adallava_generate_params* p) {
  return guarded(
      [&] {
        require(m != nullptr && p != nullptr, "adallava_plan_json: model or params is NULL");
        adallava_generate_params q = *p;
        q.deadline_ms = 0;  // a plan is asked for a budget
        const adallava::Request req = request_of(q);
        ModelThreads threads(m);
        nlohmann::json j;
        adallava::add_plan_report(j, m->engine->plan(req));
        const std::string text = j.dump();
        char* out = static_cast<char*>(std::malloc(text.size() + 1));
        require(out != nullptr, "adallava_plan_json: out of memory");
        std::memcpy(out, text.c_str(), text.size() + 1);
        return out;
      },
      static_cast<char*>(nullptr));
}

void adallava_free_string(char* s) { std::free(s); }

}  // extern "C"
