// Registration of the model/RL bindings. Each later binding file adds one init_* call here.
#include <napi.h>

#include "napi/common.h"

namespace vrft::napi {

void init_objects(Napi::Env env, Napi::Object exports);
void init_model(Napi::Env env, Napi::Object exports);
void init_dist(Napi::Env env, Napi::Object exports);

void init_generate(Napi::Env env, Napi::Object exports);
void init_trainer(Napi::Env env, Napi::Object exports);
void init_loss_check(Napi::Env env, Napi::Object exports);

void init_all(Napi::Env env, Napi::Object exports) {
  init_objects(env, exports);
  init_model(env, exports);
  init_generate(env, exports);
  init_trainer(env, exports);
  init_dist(env, exports);
  init_loss_check(env, exports);
}

}  // namespace vrft::napi
