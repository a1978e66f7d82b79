/* A real TFLite external delegate that takes no node: the interpreter loads it through the
 * external delegate ABI (tflite_plugin_create_delegate / tflite_plugin_destroy_delegate),
 * calls its Prepare, and runs every operator on its own kernels. With the option log=PATH it
 * writes the options it was given and each Prepare call to PATH, so a test can see that
 * edgekit handed the library its options. Struct layout: tensorflow/lite/core/c/common.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int TfLiteStatus; /* kTfLiteOk == 0 */
typedef int TfLiteBufferHandle;
struct TfLiteContext;
struct TfLiteTensor;

typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(struct TfLiteContext*, struct TfLiteDelegate*);
  TfLiteStatus (*CopyFromBufferHandle)(struct TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle,
                                       struct TfLiteTensor*);
  TfLiteStatus (*CopyToBufferHandle)(struct TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle,
                                     struct TfLiteTensor*);
  void (*FreeBufferHandle)(struct TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle*);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

static void note(TfLiteDelegate* d, const char* text) {
  if (d->data_ == NULL) return;
  FILE* f = fopen((const char*)d->data_, "a");
  if (f) { fputs(text, f); fputc('\n', f); fclose(f); }
}

static TfLiteStatus prepare(struct TfLiteContext* context, TfLiteDelegate* delegate) {
  (void)context;
  note(delegate, "prepare");
  return 0;
}

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t count,
                                              void (*report_error)(const char*)) {
  (void)report_error;
  TfLiteDelegate* d = calloc(1, sizeof(TfLiteDelegate));
  d->Prepare = prepare;
  for (size_t i = 0; i < count; i++)
    if (strcmp(keys[i], "log") == 0) d->data_ = strdup(values[i]);
  for (size_t i = 0; i < count; i++) {
    char line[512];
    snprintf(line, sizeof line, "option %s=%s", keys[i], values[i]);
    note(d, line);
  }
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* d) {
  note(d, "destroy");
  free(d->data_);
  free(d);
}
