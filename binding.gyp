# node-gyp build of the same sources as CMakeLists.txt (cmake-js is the primary build; this one is for
# people who build with node-gyp: `npm run build:gyp`). package.json sets "gypfile": false so npm never
# runs it on its own. Paths come from native/tools/gyp-config.mjs, which finds libtorch like the CMake build.
{
  "targets": [
    {
      "target_name": "vrft_native",
      "sources": ["<!@(node native/tools/gyp-config.mjs sources)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/tools/gyp-config.mjs include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!@(node native/tools/gyp-config.mjs defines)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "<!@(node native/tools/gyp-config.mjs openmp-cflags)", "-Wno-unused-parameter", "-Wno-sign-compare",
                    "-include", "<(module_root_dir)/native/common/pch.h"],
      "libraries": ["<!@(node native/tools/gyp-config.mjs libs)", "<!@(node native/tools/gyp-config.mjs openmp-libs)"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "GCC_ENABLE_CPP_RTTI": "YES" }
    }
  ]
}
