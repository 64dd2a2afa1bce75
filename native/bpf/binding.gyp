{
  "targets": [
    {
      "target_name": "procbpf",
      "sources": ["procbpf.c", "tasksnap.c"],
      "include_dirs": ["build/gen"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11", "-O2"],
      "libraries": ["-lbpf", "-lpthread"]
    }
  ]
}
