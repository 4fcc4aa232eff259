/* Loads a model through the installed library and answers one question: argv[1] = model. */
#include <adallava.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  adallava_model* m = adallava_load(argv[1], NULL);
  if (!m) {
    fprintf(stderr, "%s\n", adallava_last_error());
    return 1;
  }
  adallava_generate_params p;
  adallava_generate_params_init(&p);
  p.prompt = "How many objects are there?";
  p.max_tokens = 4;
  adallava_result* r = adallava_generate(m, &p);
  if (!r) {
    fprintf(stderr, "%s\n", adallava_last_error());
    return 1;
  }
  printf("%zu tokens: %s\n", adallava_result_ids(r, NULL), adallava_result_text(r));
  adallava_result_free(r);
  adallava_free(m);
  return 0;
}
