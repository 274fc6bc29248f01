// Typed errors thrown by the native core. The Node-API guard (native/napi/guard.cpp) maps them to JS
// errors with a `code`: ArgError -> TypeError/RangeError with ERR_INVALID_ARG, CodedError -> Error with
// its own code (ERR_SAFETENSORS_*, ERR_WEIGHTS_*, ...), c10::Error -> ERR_TORCH, std::exception -> ERR_NATIVE.
// Messages say what was expected and what was found.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace vrft {

struct CodedError : std::runtime_error {
  std::string code;
  CodedError(std::string code_, const std::string& msg) : std::runtime_error(msg), code(std::move(code_)) {}
};

struct ArgError : std::runtime_error {
  bool range;  // true: RangeError (value out of range); false: TypeError (wrong type/shape)
  ArgError(const std::string& msg, bool range_ = false) : std::runtime_error(msg), range(range_) {}
};

// Build a message from streamable parts: fmt("expected ", a, " but received ", b).
template <typename... Ts>
std::string fmt(const Ts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

[[noreturn]] inline void throw_arg(const std::string& msg) { throw ArgError(msg, false); }
[[noreturn]] inline void throw_range(const std::string& msg) { throw ArgError(msg, true); }
[[noreturn]] inline void throw_coded(const std::string& code, const std::string& msg) { throw CodedError(code, msg); }

}  // namespace vrft
