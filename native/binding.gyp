{
  "targets": [
    {
      "target_name": "procconn",
      "sources": ["procconn.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11", "-O2"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "unixdgram",
      "sources": ["unixdgram.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11", "-O2"]
    },
    {
      "target_name": "malloctune",
      "sources": ["malloctune.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11", "-O2"]
    }
  ]
}
