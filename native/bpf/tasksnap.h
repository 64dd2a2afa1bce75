/* tasksnap.h - the task snapshot's N-API functions (tasksnap.c), added to procbpf's exports. */
#ifndef PROCWATCH_TASKSNAP_H
#define PROCWATCH_TASKSNAP_H
#include <node_api.h>

/* Defines openTasks() on exports. Returns 0, or -1 with a JS exception pending. */
int tasksnap_define(napi_env env, napi_value exports);

#endif
