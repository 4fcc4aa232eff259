/* The C API from C, through the header alone: load the shipped AdaLLaVA-L, answer a question
 * about an image at two budgets with streamed tokens (and a callback that stops), read the
 * plan (and the same plan asked for alone) and the JSON report, logits of a prompt, and the errors bad input gets. */
#include "adallava.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

typedef struct {
  int tokens, stop_after;
  char text[4096];
} Stream;

static int on_token(int64_t id, const char* text, void* user) {
  Stream* s = (Stream*)user;
  (void)id;
  ++s->tokens;
  strncat(s->text, text, sizeof(s->text) - strlen(s->text) - 1);
  return s->stop_after == 0 || s->tokens < s->stop_after;
}

static unsigned char* read_file(const char* path, size_t* n) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* b = malloc(*n);
  if (fread(b, 1, *n, f) != *n) *n = 0;
  fclose(f);
  return b;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: capi_test MODEL_DIR IMAGE\n");
    return 2;
  }
  adallava_load_params lp;
  adallava_load_params_init(&lp);
  lp.threads = 1;
  adallava_model* m = adallava_load(argv[1], &lp);
  CHECK(m != NULL);
  if (!m) {
    fprintf(stderr, "%s\n", adallava_last_error());
    return 1;
  }
  CHECK(strchr(adallava_version(), '.') != NULL);
  CHECK(adallava_is_adaptive(m) == 1);
  CHECK(adallava_n_layers(m) > 0);

  size_t n = 0;
  unsigned char* png = read_file(argv[2], &n);
  CHECK(png != NULL && n > 0);
  adallava_image* image = adallava_image_from_bytes(png, n);
  CHECK(image != NULL);

  double fractions[2];
  const double budgets[2] = {1.0, 0.5};
  for (int b = 0; b < 2; ++b) {
    adallava_generate_params p;
    adallava_generate_params_init(&p);
    Stream s = {0, 0, ""};
    p.prompt = "What shape is the object?";
    p.image = image;
    p.max_tokens = 6;
    p.budget = budgets[b];
    p.on_token = on_token;
    p.user = &s;
    adallava_result* r = adallava_generate(m, &p);
    CHECK(r != NULL);
    if (!r) continue;
    const int64_t* ids = NULL;
    const size_t k = adallava_result_ids(r, &ids);
    CHECK(k > 0 && (int)k == s.tokens);
    CHECK(strcmp(adallava_result_text(r), s.text) == 0);  /* the streamed pieces make the text */
    CHECK(adallava_result_budget(r) == budgets[b]);
    fractions[b] = adallava_result_executed_fraction(r);
    int layers[256];
    const int ran = adallava_result_executed_layers(r, layers, 256);
    CHECK(ran > 0 && ran <= adallava_n_layers(m));
    CHECK(strstr(adallava_result_json(r), "\"executed_layers\"") != NULL);
    /* the plan asked for alone is the plan that ran */
    char want[1024] = "\"executed_layers\":[";
    for (int i = 0; i < ran; ++i) sprintf(want + strlen(want), i ? ",%d" : "%d", layers[i]);
    strcat(want, "]");
    char* plan = adallava_plan_json(m, &p);
    CHECK(plan != NULL && strstr(plan, want) != NULL);
    adallava_free_string(plan);
    adallava_result_free(r);
  }
  CHECK(fractions[1] < fractions[0]); /* the smaller budget ran less of the decoder */

  { /* a callback that stops after two tokens */
    adallava_generate_params p;
    adallava_generate_params_init(&p);
    Stream s = {0, 2, ""};
    p.prompt = "Describe the scene.";
    p.max_tokens = 8;
    p.on_token = on_token;
    p.user = &s;
    adallava_result* r = adallava_generate(m, &p);
    CHECK(r != NULL && adallava_result_ids(r, NULL) == 2);
    CHECK(r != NULL && strcmp(adallava_result_finish_reason(r), "cancelled") == 0);
    adallava_result_free(r);
  }

  { /* the prompt ids generate builds: the image token among them when asked */
    int64_t ids[512];
    const int64_t n = adallava_prompt_ids(m, "What shape is the object?", 1, ids, 512);
    CHECK(n > 2 && n <= 512);
    int image_tokens = 0;
    for (int64_t i = 0; i < n && i < 512; ++i) image_tokens += ids[i] == -200;
    CHECK(image_tokens == 1);
    CHECK(adallava_prompt_ids(m, "What shape is the object?", 0, ids, 0) < n);
  }

  { /* logits of every prompt row: rows x vocab, the latency token last */
    const int64_t ids[3] = {1, 5, 9};
    float* logits = NULL;
    const int64_t rows = adallava_logits(m, ids, 3, NULL, 0.75, &logits);
    CHECK(rows == 4);
    CHECK(logits != NULL);
    adallava_free_floats(logits);
  }

  /* Bad input: NULL, a value out of range, an infeasible deadline, a corrupt image. */
  adallava_generate_params bad;
  adallava_generate_params_init(&bad);
  CHECK(adallava_generate(m, &bad) == NULL && strstr(adallava_last_error(), "prompt or ids") != NULL);
  bad.prompt = "hi";
  bad.budget = 1.5;
  CHECK(adallava_generate(m, &bad) == NULL && strstr(adallava_last_error(), "budget") != NULL);
  CHECK(adallava_plan_json(m, &bad) == NULL && strstr(adallava_last_error(), "budget") != NULL);
  bad.budget = 1.0;
  bad.deadline_ms = 0.001;
  CHECK(adallava_generate(m, &bad) == NULL && strlen(adallava_last_error()) > 0);
  const unsigned char junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(adallava_image_from_bytes(junk, 8) == NULL && strlen(adallava_last_error()) > 0);
  CHECK(adallava_load("/nonexistent/model", NULL) == NULL && strstr(adallava_last_error(), "/nonexistent/model"));
  adallava_load_params badp;
  adallava_load_params_init(&badp);
  badp.precision = "f64";
  CHECK(adallava_load(argv[1], &badp) == NULL && strstr(adallava_last_error(), "f64") != NULL);

  adallava_image_free(image);
  free(png);
  adallava_free(m);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  else printf("capi_test: all checks passed\n");
  return failures ? 1 : 0;
}
