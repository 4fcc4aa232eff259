// adallava._adallava: the Python binding, a thin layer over the C API (include/adallava.h), so
// that Python runs exactly what the CLI, the server and C programs run. Every call into the
// engine releases the GIL; a token callback takes it back only while it runs Python code.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "adallava.h"

namespace py = pybind11;

namespace {

// The engine's message, raised in Python as adallava.Error.
struct EngineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void raise_last_error() { throw EngineError(adallava_last_error()); }

class Image {
 public:
  explicit Image(adallava_image* p) : p_(p) {
    if (!p_) raise_last_error();
  }
  ~Image() { adallava_image_free(p_); }
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;
  const adallava_image* get() const { return p_; }

  static Image* from_bytes(const py::bytes& b) {
    const std::string_view s = b;  // the bytes object's own buffer, no copy
    adallava_image* p;
    {
      py::gil_scoped_release release;
      p = adallava_image_from_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    }
    return new Image(p);
  }
  // Packed RGB rows: a C-contiguous uint8 array (height, width, 3), checked by the Python side.
  static Image* from_rgb(const py::array_t<uint8_t, py::array::c_style>& a) {
    if (a.ndim() != 3 || a.shape(2) != 3) throw EngineError("image: an RGB array must have shape (height, width, 3)");
    return new Image(adallava_image_from_rgb(a.data(), int(a.shape(1)), int(a.shape(0))));
  }

 private:
  adallava_image* p_;
};

class Result {
 public:
  explicit Result(adallava_result* r) : r_(r) {}
  ~Result() { adallava_result_free(r_); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  std::string text() const { return adallava_result_text(r_); }
  std::vector<int64_t> ids() const {
    const int64_t* p = nullptr;
    const size_t n = adallava_result_ids(r_, &p);
    return std::vector<int64_t>(p, p + n);
  }
  std::string finish_reason() const { return adallava_result_finish_reason(r_); }
  std::string json() const { return adallava_result_json(r_); }

 private:
  adallava_result* r_;
};

// What generate and plan take besides the model: the prompt (text or ids) and the image.
struct Input {
  std::optional<std::string> prompt;
  std::vector<int64_t> ids;
  const Image* image = nullptr;

  adallava_generate_params params() const {
    adallava_generate_params p;
    adallava_generate_params_init(&p);
    p.prompt = prompt ? prompt->c_str() : nullptr;
    p.ids = ids.empty() ? nullptr : ids.data();
    p.n_ids = ids.size();
    p.image = image ? image->get() : nullptr;
    return p;
  }
};

// A Python callable as the C token callback; a Python exception stops the request and is
// raised again once the engine has returned.
struct Callback {
  py::function fn;
  std::optional<py::error_already_set> error;

  static int call(int64_t id, const char* text, void* user) {
    auto* self = static_cast<Callback*>(user);
    py::gil_scoped_acquire acquire;
    try {
      PyObject* s = PyUnicode_DecodeUTF8(text, Py_ssize_t(std::strlen(text)), "replace");
      if (!s) throw py::error_already_set();
      const py::object go = self->fn(id, py::reinterpret_steal<py::str>(s));
      return go.is_none() || go.cast<bool>() ? 1 : 0;
    } catch (py::error_already_set& e) {
      self->error.emplace(std::move(e));
      return 0;
    }
  }
};

class Model {
 public:
  Model(const std::string& path, int threads, std::optional<std::string> mmproj, std::optional<std::string> precision) {
    adallava_load_params p;
    adallava_load_params_init(&p);
    p.threads = threads;
    p.mmproj = mmproj ? mmproj->c_str() : nullptr;
    p.precision = precision ? precision->c_str() : nullptr;
    py::gil_scoped_release release;
    m_ = adallava_load(path.c_str(), &p);
    if (!m_) raise_last_error();
  }
  ~Model() { adallava_free(m_); }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  bool adaptive() const { return adallava_is_adaptive(m_) == 1; }
  int n_layers() const { return adallava_n_layers(m_); }
  int n_vocab() const { return adallava_n_vocab(m_); }

  Result* generate(const Input& in, int max_tokens, float temperature, float top_p, int top_k, uint64_t seed,
                   double budget, double deadline_ms, std::optional<py::function> on_token) {
    adallava_generate_params p = in.params();
    p.max_tokens = max_tokens;
    p.temperature = temperature;
    p.top_p = top_p;
    p.top_k = top_k;
    p.seed = seed;
    p.budget = budget;
    p.deadline_ms = deadline_ms;
    Callback cb;
    if (on_token) {
      cb.fn = *on_token;
      p.on_token = &Callback::call;
      p.user = &cb;
    }
    adallava_result* r;
    {
      py::gil_scoped_release release;
      r = adallava_generate(m_, &p);
    }
    if (cb.error) {
      adallava_result_free(r);
      throw std::move(*cb.error);
    }
    if (!r) raise_last_error();
    return new Result(r);
  }

  py::array_t<float> logits(const std::vector<int64_t>& ids, const Image* image, double budget) {
    float* out = nullptr;
    int64_t rows;
    {
      py::gil_scoped_release release;
      rows = adallava_logits(m_, ids.data(), ids.size(), image ? image->get() : nullptr, budget, &out);
    }
    if (rows < 0) raise_last_error();
    // The array owns the engine's buffer: no copy of what may be a large (rows, vocab) block.
    py::capsule owner(out, [](void* p) { adallava_free_floats(static_cast<float*>(p)); });
    return py::array_t<float>({py::ssize_t(rows), py::ssize_t(n_vocab())}, out, owner);
  }

  std::vector<int64_t> prompt_ids(const std::string& question, bool with_image) const {
    std::vector<int64_t> ids(256);
    int64_t n = adallava_prompt_ids(m_, question.c_str(), with_image, ids.data(), ids.size());
    if (n > int64_t(ids.size())) {
      ids.resize(size_t(n));
      n = adallava_prompt_ids(m_, question.c_str(), with_image, ids.data(), ids.size());
    }
    if (n < 0) raise_last_error();
    ids.resize(size_t(n));
    return ids;
  }

  std::string plan_json(const Input& in, double budget) {
    adallava_generate_params p = in.params();
    p.budget = budget;
    char* s;
    {
      py::gil_scoped_release release;
      s = adallava_plan_json(m_, &p);
    }
    if (!s) raise_last_error();
    std::string out(s);
    adallava_free_string(s);
    return out;
  }

 private:
  adallava_model* m_ = nullptr;
};

Input input_of(std::optional<std::string> prompt, std::optional<std::vector<int64_t>> ids, const Image* image) {
  Input in;
  in.prompt = std::move(prompt);
  if (ids) in.ids = std::move(*ids);
  in.image = image;
  return in;
}

}  // namespace

PYBIND11_MODULE(_adallava, m) {
  m.doc() = "adallava's engine through its C API; use the adallava package, not this module";
  py::register_exception<EngineError>(m, "Error", PyExc_RuntimeError);
  m.def("version", [] { return std::string(adallava_version()); });

  py::class_<Image>(m, "Image")
      .def_static("from_bytes", &Image::from_bytes, py::arg("data"))
      .def_static("from_rgb", &Image::from_rgb, py::arg("rgb"));

  py::class_<Result>(m, "Result")
      .def_property_readonly("text", &Result::text)
      .def_property_readonly("ids", &Result::ids)
      .def_property_readonly("finish_reason", &Result::finish_reason)
      .def("json", &Result::json);

  py::class_<Model>(m, "Model")
      .def(py::init<const std::string&, int, std::optional<std::string>, std::optional<std::string>>(),
           py::arg("path"), py::arg("threads"), py::arg("mmproj"), py::arg("precision"))
      .def_property_readonly("adaptive", &Model::adaptive)
      .def_property_readonly("n_layers", &Model::n_layers)
      .def_property_readonly("n_vocab", &Model::n_vocab)
      .def(
          "generate",
          [](Model& self, std::optional<std::string> prompt, std::optional<std::vector<int64_t>> ids,
             const Image* image, int max_tokens, float temperature, float top_p, int top_k, uint64_t seed,
             double budget, double deadline_ms, std::optional<py::function> on_token) {
            return self.generate(input_of(std::move(prompt), std::move(ids), image), max_tokens, temperature,
                                 top_p, top_k, seed, budget, deadline_ms, std::move(on_token));
          },
          py::arg("prompt"), py::arg("ids"), py::arg("image"), py::arg("max_tokens"), py::arg("temperature"),
          py::arg("top_p"), py::arg("top_k"), py::arg("seed"), py::arg("budget"), py::arg("deadline_ms"),
          py::arg("on_token"))
      .def("prompt_ids", &Model::prompt_ids, py::arg("question"), py::arg("with_image"))
      .def("logits", &Model::logits, py::arg("ids"), py::arg("image"), py::arg("budget"))
      .def(
          "plan_json",
          [](Model& self, std::optional<std::string> prompt, std::optional<std::vector<int64_t>> ids,
             const Image* image, double budget) {
            return self.plan_json(input_of(std::move(prompt), std::move(ids), image), budget);
          },
          py::arg("prompt"), py::arg("ids"), py::arg("image"), py::arg("budget"));
}
