// Times the YAML event parsers packaged in Debian on one file: libyaml (what wf uses, through
// src/yaml_document.cpp) and libfyaml. Both only produce the event stream; building wf's
// positioned tree from it is the same work for either, so events are what is compared.
//
//   cc -O2 scripts/yaml_parsers.c -o yaml_parsers -lyaml -lfyaml
//   ./yaml_parsers FILE [ROUNDS]
//
// Prints, per parser, the events seen and the median time of ROUNDS parses of the file held in
// memory (default 21). Used for docs/performance.md ("YAML parsers"); libfyaml is not a
// dependency of wf (apt-get install libfyaml-dev to build this).
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static long parse_libyaml(const char* text, size_t size) {
  yaml_parser_t parser;
  yaml_event_t event;
  long events = 0;
  if (!yaml_parser_initialize(&parser)) return -1;
  yaml_parser_set_input_string(&parser, (const unsigned char*)text, size);
  for (;;) {
    if (!yaml_parser_parse(&parser, &event)) {
      events = -1;
      break;
    }
    ++events;
    const int done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (done) break;
  }
  yaml_parser_delete(&parser);
  return events;
}

static long parse_libfyaml(const char* text, size_t size) {
  struct fy_parse_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.flags = FYPCF_QUIET;
  struct fy_parser* parser = fy_parser_create(&cfg);
  if (!parser) return -1;
  long events = 0;
  if (fy_parser_set_string(parser, text, size) != 0) {
    fy_parser_destroy(parser);
    return -1;
  }
  struct fy_event* event;
  while ((event = fy_parser_parse(parser)) != NULL) {
    // What wf needs of a scalar: its text and its position.
    if (event->type == FYET_SCALAR) {
      size_t len = 0;
      const char* s = fy_token_get_text(event->scalar.value, &len);
      const struct fy_mark* m = fy_token_start_mark(event->scalar.value);
      if (s == NULL || m == NULL) events = -1000000;
    }
    ++events;
    fy_parser_event_free(parser, event);
  }
  if (fy_parser_get_stream_error(parser)) events = -1;
  fy_parser_destroy(parser);
  return events;
}

static int cmp(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [ROUNDS]\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* text = malloc((size_t)size + 1);
  if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) return 1;
  fclose(f);
  const int rounds = argc > 2 ? atoi(argv[2]) : 21;
  double* t = malloc(sizeof(double) * (size_t)rounds);
  const char* names[2] = {"libyaml", "libfyaml"};
  long (*parsers[2])(const char*, size_t) = {parse_libyaml, parse_libfyaml};
  printf("%s: %ld bytes\n", argv[1], size);
  for (int p = 0; p < 2; ++p) {
    long events = 0;
    for (int r = 0; r < rounds; ++r) {
      const double t0 = now_us();
      events = parsers[p](text, (size_t)size);
      t[r] = now_us() - t0;
    }
    qsort(t, (size_t)rounds, sizeof(double), cmp);
    printf("%-9s %8ld events  median %8.0f us  (%.0f ns per byte)\n", names[p], events, t[rounds / 2],
           t[rounds / 2] * 1000.0 / (double)size);
  }
  free(t);
  free(text);
  return 0;
}
