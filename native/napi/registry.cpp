// Registration of the model/RL bindings. Each later binding file adds one init_* call here.
#include <napi.h>

#include "napi/common.h"

namespace vrft::napi {

void init_all(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace vrft::napi
