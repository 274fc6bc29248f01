// The addon's entry point: registers every binding module. Each module lives in its own file and
// exposes an init_* function declared in napi/common.h.
#include <napi.h>

#include "napi/common.h"

namespace vrft::napi {
void init_all(Napi::Env env, Napi::Object exports);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vrft::napi::init_runtime(env, exports);
  vrft::napi::init_safetensors(env, exports);
  vrft::napi::init_all(env, exports);
  return exports;
}

NODE_API_MODULE(vrft_native, Init)
