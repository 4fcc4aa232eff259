"""A streamed request: tokens as they come, and the result once done."""
import queue
import threading

from .result import Result, Token

_DONE = object()


class Stream:
    """Iterate for Token(id, text) as the engine generates them; `result` waits for the Result.
    Leaving the loop early (break, an exception, close()) stops the request at its next token.
    The request runs on a thread of its own, which holds the GIL only to hand over a token."""

    def __init__(self, start):
        self._tokens = queue.SimpleQueue()
        self._stop = threading.Event()
        self._result = None
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(start,), daemon=True)
        self._thread.start()

    def _run(self, start):
        try:
            self._result = Result(start(self._on_token))
        except BaseException as e:  # raised again in the caller's thread
            self._error = e
        finally:
            self._tokens.put(_DONE)

    def _on_token(self, id, text):
        self._tokens.put(Token(id, text))
        return not self._stop.is_set()

    def __iter__(self):
        finished = False
        try:
            while (item := self._tokens.get()) is not _DONE:
                yield item
            finished = True
        finally:
            if not finished:
                self._stop.set()
        self._raise_error()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the request (if it still runs) and wait for it."""
        self._stop.set()
        self._thread.join()

    @property
    def result(self):
        """The Result, once the request has finished (waits for it)."""
        self._thread.join()
        self._raise_error()
        return self._result

    def _raise_error(self):
        if self._error is not None:
            raise self._error
