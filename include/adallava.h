/* adallava: a C API over the engine (the request API the CLI and the server run).
 *
 * Every function reports failure by its return value (NULL, or a negative count) and leaves a
 * one-line message for adallava_last_error(); no C++ exception crosses this header.
 *
 * Thread safety: a model may be used by several threads at once (each call is a request of its
 * own); images and results belong to one thread at a time. adallava_last_error() is per thread.
 */
#ifndef ADALLAVA_H
#define ADALLAVA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ADALLAVA_API __attribute__((visibility("default")))

typedef struct adallava_model adallava_model;
typedef struct adallava_image adallava_image;
typedef struct adallava_result adallava_result;

/* The library's version, "MAJOR.MINOR.PATCH". */
ADALLAVA_API const char* adallava_version(void);

/* The calling thread's last error message ("" when the last call succeeded). */
ADALLAVA_API const char* adallava_last_error(void);

typedef struct {
  int threads;           /* compute threads; 0: every core */
  const char* mmproj;    /* with a GGUF text model: its mmproj file; NULL: none */
  const char* precision; /* "f32", "bf16", "q8"; NULL: the default for the weights and the CPU */
} adallava_load_params;

ADALLAVA_API void adallava_load_params_init(adallava_load_params* p);
/* A model folder (safetensors + config) or a GGUF file. NULL on failure. */
ADALLAVA_API adallava_model* adallava_load(const char* path, const adallava_load_params* p);
ADALLAVA_API void adallava_free(adallava_model* m);
/* Whether the model is AdaLLaVA (takes budgets) and its decoder's layer count. */
ADALLAVA_API int adallava_is_adaptive(const adallava_model* m);
ADALLAVA_API int adallava_n_layers(const adallava_model* m);
ADALLAVA_API int adallava_n_vocab(const adallava_model* m);

/* The prompt ids of a question in the model's chat template (with the image token before it when
 * with_image), as adallava_generate builds them: up to cap ids into ids; returns how many the
 * prompt has (< 0 on failure: no tokenizer). */
ADALLAVA_API int64_t adallava_prompt_ids(const adallava_model* m, const char* question, int with_image, int64_t* ids,
                                         size_t cap);

/* An image from an encoded file in memory (PNG, JPEG, BMP, GIF) or from packed RGB bytes
 * (height rows of width * 3). NULL on failure. */
ADALLAVA_API adallava_image* adallava_image_from_bytes(const uint8_t* bytes, size_t n);
ADALLAVA_API adallava_image* adallava_image_from_rgb(const uint8_t* rgb, int width, int height);
ADALLAVA_API void adallava_image_free(adallava_image* image);

/* Called for each generated token with its id and the text it adds (may be "" while a
 * multi-byte character is split); return 0 to stop the request. */
typedef int (*adallava_token_callback)(int64_t id, const char* text, void* user);

typedef struct {
  const char* prompt;          /* a question (wrapped in the model's chat template), or NULL */
  const int64_t* ids;          /* or exact prompt token ids (the image token marks the image) */
  size_t n_ids;
  const adallava_image* image; /* or NULL */
  int max_tokens;              /* default 128 */
  float temperature;           /* 0: greedy (default) */
  float top_p;                 /* default 1 */
  int top_k;                   /* 0: no limit */
  uint64_t seed;
  double budget;               /* AdaLLaVA: the share of the decoder in [0, 1]; default 1 */
  double deadline_ms;          /* > 0: finish within this many ms (picks the budget); 0: none */
  adallava_token_callback on_token; /* or NULL */
  void* user;
} adallava_generate_params;

ADALLAVA_API void adallava_generate_params_init(adallava_generate_params* p);
/* One request. NULL on failure (bad input, an infeasible deadline: see adallava_last_error). */
ADALLAVA_API adallava_result* adallava_generate(adallava_model* m, const adallava_generate_params* p);
ADALLAVA_API const char* adallava_result_text(const adallava_result* r);
/* The generated ids; *ids points into the result. */
ADALLAVA_API size_t adallava_result_ids(const adallava_result* r, const int64_t** ids);
/* "stop", "length", "cancelled" or "deadline". */
ADALLAVA_API const char* adallava_result_finish_reason(const adallava_result* r);
ADALLAVA_API double adallava_result_budget(const adallava_result* r);
ADALLAVA_API double adallava_result_executed_fraction(const adallava_result* r);
/* The decoder layers the plan ran, ascending, up to cap of them; returns how many ran. */
ADALLAVA_API int adallava_result_executed_layers(const adallava_result* r, int* layers, int cap);
/* Everything `adallava run --json` reports (plan with heads and groups per layer, timings,
 * deadline, token selection), as one JSON object. */
ADALLAVA_API const char* adallava_result_json(const adallava_result* r);
ADALLAVA_API void adallava_result_free(adallava_result* r);

/* Logits of every prompt position, (rows, vocab) row-major, AdaLLaVA's latency token last;
 * budget as in generate. Returns rows (< 0 on failure); free *logits with adallava_free_floats. */
ADALLAVA_API int64_t adallava_logits(adallava_model* m, const int64_t* ids, size_t n_ids, const adallava_image* image,
                                     double budget, float** logits);
ADALLAVA_API void adallava_free_floats(float* p);

/* The plan a request's prompt gets at its budget, without generating: the prompt (or ids),
 * image and budget of p (the rest is ignored). Runs only the layers before AdaLLaVA's scheduler.
 * A JSON object: budget, units, executed_fraction, plan_source, plan {executed_layers, layers:
 * [{layer, heads, mlp_groups}]}. NULL on failure; free it with adallava_free_string. */
ADALLAVA_API char* adallava_plan_json(adallava_model* m, const adallava_generate_params* p);
ADALLAVA_API void adallava_free_string(char* s);

#ifdef __cplusplus
}
#endif

#endif /* ADALLAVA_H */
