#!/usr/bin/env python3
"""A queuectl client with no queuectl code: plain pyzmq + json (see docs/rpc.md).

    python examples/plain_client.py /path/to/control.sock

Enqueues a job, waits for it, reads it back and its output, and shows an
error reply. The same few lines work in any language with a ZeroMQ binding:
connect a REQ socket to ipc://<socket>, send one JSON-RPC 2.0 request per
message, receive one reply per message.
"""

import itertools
import json
import sys

import zmq


class RpcError(Exception):
    def __init__(self, error):
        super().__init__(f"{error['message']} (code {error['code']})")
        self.code = error["code"]
        self.data = error.get("data", {})


class Client:
    def __init__(self, socket_path, timeout=10.0):
        self.endpoint = "ipc://" + socket_path
        self.timeout = timeout
        self.ctx = zmq.Context()
        self.sock = None
        self.ids = itertools.count(1)

    def call(self, method, params=None, timeout=None):
        if self.sock is None:
            self.sock = self.ctx.socket(zmq.REQ)
            self.sock.setsockopt(zmq.LINGER, 0)  # never block on close
            self.sock.connect(self.endpoint)
        request = {"jsonrpc": "2.0", "id": next(self.ids), "method": method}
        if params is not None:
            request["params"] = params
        self.sock.send(json.dumps(request).encode("utf-8"))
        if not self.sock.poll(int((timeout or self.timeout) * 1000), zmq.POLLIN):
            # A REQ socket that missed its reply cannot send again: start over.
            self.sock.close()
            self.sock = None
            raise TimeoutError(f"no reply from {self.endpoint}")
        reply = json.loads(self.sock.recv())
        if "error" in reply:
            raise RpcError(reply["error"])
        return reply["result"]

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.ctx.term()


def main(socket_path):
    client = Client(socket_path)
    job = client.call("job.enqueue", {"command": "echo hello from $WHO; echo oops >&2",
                                      "env": {"WHO": "plain"}, "max_retries": 0})
    print(json.dumps({"step": "enqueue", "id": job["id"], "state": job["state"]}))

    # job.wait answers when the job is completed, dead or cancelled (or after the
    # timeout); give the socket a little longer than the daemon's own timeout.
    done = client.call("job.wait", {"id": job["id"], "timeout": 30}, timeout=40)
    print(json.dumps({"step": "wait", "state": done["job"]["state"], "timed_out": done["timed_out"]}))

    full = client.call("job.get", {"id": job["id"]})
    print(json.dumps({"step": "get", "exit_code": full["exit_code"],
                      "attempts": len(full["attempts_detail"])}))

    for stream in ("stdout", "stderr"):
        data, offset = "", 0
        while True:  # read in chunks until eof
            chunk = client.call("job.logs", {"id": job["id"], "stream": stream, "offset": offset})
            data += chunk["data"]  # "encoding" is "base64" for output that is not UTF-8
            offset = chunk["next_offset"]
            if chunk["eof"] or not chunk["data"]:
                break
        print(json.dumps({"step": "logs", "stream": stream, "data": data}))

    try:
        client.call("job.get", {"id": "no-such-job"})
    except RpcError as exc:
        print(json.dumps({"step": "error", "code": exc.code, "name": exc.data.get("name"),
                          "message": str(exc)}))
    client.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: plain_client.py CONTROL_SOCKET")
    main(sys.argv[1])
