/*
 * One datagram to a unix socket (the syslog action: /dev/log is SOCK_DGRAM, which Node's
 * dgram module cannot address). Non-blocking: a syslog daemon that is behind answers EAGAIN,
 * which the caller counts as a failed delivery instead of stalling the daemon.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
	char msg[160];
	snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
	napi_throw_error(env, err == EAGAIN ? "EAGAIN" : NULL, msg);
	return NULL;
}

/* send(path: string, data: Buffer): void */
static napi_value send_dgram(napi_env env, napi_callback_info info) {
	size_t argc = 2;
	napi_value argv[2];
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) {
		napi_throw_type_error(env, NULL, "send(path, buffer)");
		return NULL;
	}
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	size_t len = 0;
	if (napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &len) != napi_ok || len == 0 || len >= sizeof addr.sun_path - 1) {
		napi_throw_type_error(env, NULL, "the socket path must be a string of 1 to 107 bytes");
		return NULL;
	}
	void *data = NULL;
	size_t size = 0;
	if (napi_get_buffer_info(env, argv[1], &data, &size) != napi_ok) {
		napi_throw_type_error(env, NULL, "the message must be a Buffer");
		return NULL;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) return throw_errno(env, "socket", errno);
	ssize_t sent = sendto(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&addr, sizeof addr);
	int err = errno;
	close(fd);
	if (sent < 0) return throw_errno(env, addr.sun_path, err);
	return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
	napi_value fn;
	if (napi_create_function(env, "send", NAPI_AUTO_LENGTH, send_dgram, NULL, &fn) != napi_ok) return NULL;
	if (napi_set_named_property(env, exports, "send", fn) != napi_ok) return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
