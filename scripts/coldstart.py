"""Cold start of the predict function's bootstrap, outside AWS: a minimal Lambda
Runtime API on loopback hands the process one API Gateway event (GET /v1/popular) and
times process start -> first answer. Run by scripts/bench-coldstart, which provides the
services, the model in S3 (moto) and the environment.
    python coldstart.py COMMAND EVENT SECRET RUNS
COMMAND: the bootstrap's path, or a command line that runs it (an emulator's).
Prints one JSON line per run: {"run", "cache", "init_to_answer_ms", "status"}.
"""
import base64, hashlib, hmac, http.server, json, os, shlex, subprocess, sys, threading, time

binary, event_path, secret, runs = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])


def token(sid):
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(
        {"sid": sid, "iat": now, "exp": now + 3600}, separators=(",", ":")).encode())
    return signing + "." + b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())


event = json.load(open(event_path))
event["headers"]["authorization"] = "Bearer " + token("s-coldstart")
state = {}


class Runtime(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith("/invocation/next"):
            if state.get("served"):
                time.sleep(30)  # the function waits here until it is stopped
                return
            state["served"] = True
            body = json.dumps(event).encode()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                             "arn:aws:lambda:us-east-1:123456789012:function:predict")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        state["answer"] = (time.perf_counter(), self.path, body)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        state["done"].set()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
for run in range(1, runs + 1):
    state.clear()
    state["done"] = threading.Event()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}",
               AWS_LAMBDA_FUNCTION_NAME="predict", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST", RUST_LOG="warn")
    started = time.perf_counter()
    proc = subprocess.Popen(shlex.split(binary), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    answered = state["done"].wait(30)
    took = (state["answer"][0] - started) * 1000 if answered else None
    status = None
    if answered:
        try:
            status = json.loads(state["answer"][2]).get("statusCode")
        except ValueError:
            status = "unreadable"
    # Give a first instance time to fill the cache in the background, as a frozen
    # Lambda instance would on its next invocations.
    time.sleep(2 if run == 1 else 0.2)
    proc.kill()
    proc.wait()
    print(json.dumps({"run": run, "cache": "empty" if run == 1 else "filled",
                      "init_to_answer_ms": took, "status": status}), flush=True)
