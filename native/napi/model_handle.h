// The native model behind a JS model handle (a Napi::External<ModelHolder> made by modelLoad), shared by
// the model, generation and trainer bindings so the three agree on one definition.
#pragma once
#include "model/qwen2vl.h"

namespace vrft::napi {

struct ModelHolder {
  vrft::model::Qwen2VL model{nullptr};
};

}  // namespace vrft::napi
