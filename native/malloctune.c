/*
 * glibc's malloc, set up for a process that runs for months: what the systemd unit's
 * MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ do, for a daemon started
 * any other way (src/daemon/malloc.ts says when it is called, BENCHMARKS.md what it saves).
 *
 * By default each thread that allocates gets its own arena (up to 8 per core), and after a large
 * block is freed glibc raises its mmap threshold to that size and its trim threshold to twice
 * that: from then on large blocks come from the arenas, which keep their free tops instead of
 * giving them back. V8's helper threads and libuv's pool each hold an arena so.
 */
#include <malloc.h>
#include <node_api.h>

static int int_arg(napi_env env, napi_value value, int *out) {
	return napi_get_value_int32(env, value, out) == napi_ok && *out > 0;
}

/* tune(arenaMax, mmapThreshold, trimThreshold): boolean, whether glibc accepted all three (false on another libc) */
static napi_value tune(napi_env env, napi_callback_info info) {
	size_t argc = 3;
	napi_value argv[3];
	int arena_max, mmap_threshold, trim_threshold;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || !int_arg(env, argv[0], &arena_max) ||
	    !int_arg(env, argv[1], &mmap_threshold) || !int_arg(env, argv[2], &trim_threshold)) {
		napi_throw_type_error(env, NULL, "tune(arenaMax, mmapThreshold, trimThreshold): three positive integers");
		return NULL;
	}
	int ok = 0;
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	/* mallopt returns 1 on success, 0 on a value it refuses. */
	ok = mallopt(M_ARENA_MAX, arena_max) == 1;
	ok = (mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1) && ok;
	ok = (mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1) && ok;
#endif
	napi_value result;
	napi_get_boolean(env, ok, &result);
	return result;
}

static napi_value init(napi_env env, napi_value exports) {
	napi_value fn;
	if (napi_create_function(env, "tune", NAPI_AUTO_LENGTH, tune, NULL, &fn) != napi_ok ||
	    napi_set_named_property(env, exports, "tune", fn) != napi_ok)
		return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
