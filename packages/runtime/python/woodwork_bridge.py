"""Woodwork's Python bridge: runs the classic engine's Python pipes, hooks and function files.

@woodwork/runtime starts this script with `python3 -u woodwork_bridge.py` and speaks JSON lines
over stdio. Requests (one JSON object a line on stdin):

  {"id": 1, "op": "load", "path": "/abs/hooks.py"}
      -> {"id": 1, "ok": true, "result": {"functions": [{"name", "parameters", "doc"}]}}
  {"id": 2, "op": "call", "path": "/abs/hooks.py", "function": "print_thought", "args": [...]}
      -> {"id": 2, "ok": true, "result": <JSON>}
      -> {"id": 2, "ok": false, "error": {"type", "message", "traceback"}}
  {"id": 3, "op": "reload"}            forget every loaded module (hot reload)
      -> {"id": 3, "ok": true, "result": null}

A call passes only as many positional arguments as the function accepts, so a classic
`def pipe(payload)` and a `def pipe(payload, context)` both work. Coroutine functions are run to
completion. Requests run on a small thread pool, so a slow hook does not hold up a pipe.

What user code prints does not corrupt the protocol: sys.stdout is replaced by a writer that sends
{"type": "output", "text": ...} lines, which the runtime writes to its own stdout.
Only the standard library is used.
"""

import asyncio
import importlib.util
import inspect
import json
import os
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

_protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
_write_lock = threading.Lock()
_modules = {}
_modules_lock = threading.Lock()
_generation = 0


def _send(message):
    line = json.dumps(message, default=_fallback, ensure_ascii=False)
    with _write_lock:
        _protocol.write(line + "\n")
        _protocol.flush()


class _OutputWriter:
    """Stands in for sys.stdout: user prints become protocol messages."""

    encoding = "utf-8"

    def write(self, text):
        if text:
            _send({"type": "output", "text": text})
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def _fallback(value):
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "__dict__"):
        return {key: item for key, item in vars(value).items() if not key.startswith("_")}
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _load(path):
    with _modules_lock:
        cached = _modules.get(path)
        if cached is not None:
            return cached
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        name = "woodwork_user_%d_%s" % (_generation, os.path.splitext(os.path.basename(path))[0])
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError("cannot load %s as a Python module" % path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[path] = module
        return module


def _describe(module):
    functions = []
    for name, value in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(value):
            continue
        if getattr(value, "__module__", None) != module.__name__:
            continue
        try:
            parameters = list(inspect.signature(value).parameters)
        except (TypeError, ValueError):
            parameters = []
        functions.append({"name": name, "parameters": parameters, "doc": inspect.getdoc(value)})
    return {"functions": functions}


def _accepted(function, args):
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return args
    positional = 0
    for parameter in parameters:
        if parameter.kind == inspect.Parameter.VAR_POSITIONAL:
            return args
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return args[:positional]


def _call(path, function_name, args, kwargs):
    module = _load(path)
    function = getattr(module, function_name, None)
    if function is None or not callable(function):
        raise AttributeError("%s has no function %s" % (os.path.basename(path), function_name))
    result = function(*_accepted(function, args), **kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable):
    return await awaitable


def _handle(request):
    global _generation
    request_id = request.get("id")
    try:
        op = request.get("op")
        if op == "load":
            result = _describe(_load(request["path"]))
        elif op == "call":
            result = _call(request["path"], request["function"], request.get("args") or [], request.get("kwargs") or {})
        elif op == "reload":
            with _modules_lock:
                _modules.clear()
                _generation += 1
            result = None
        else:
            raise ValueError("unknown op %r" % (op,))
        _send({"id": request_id, "ok": True, "result": result})
    except BaseException as error:  # noqa: BLE001 - everything goes back to the runtime
        _send(
            {
                "id": request_id,
                "ok": False,
                "error": {
                    "type": type(error).__name__,
                    "message": str(error),
                    "traceback": traceback.format_exc(),
                },
            }
        )


def main():
    sys.stdout = _OutputWriter()
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="woodwork")
    _send({"type": "ready", "python": sys.version.split()[0]})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except ValueError as error:
            _send({"type": "protocol_error", "message": str(error)})
            continue
        pool.submit(_handle, request)
    pool.shutdown(wait=True)


if __name__ == "__main__":
    main()
