// Precompiled header for the native core and the addon: the heavy libtorch headers, parsed once.
// Headers of the project itself include <torch/torch.h> only where a declaration needs a tensor type.
#pragma once
#include <torch/torch.h>
#include <ATen/Parallel.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
