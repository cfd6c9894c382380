"""A browser-less session of the running app, over the websocket protocol the Streamlit frontend speaks.

One `AppClient` is one user: it opens a page, sets widgets by their keys (a fragment's widget reruns only its
fragment, as in the browser), uploads files, and fetches the images a run shows. Light enough to run twenty
at once on two cores, which twenty Chromium pages are not. Used by bench/load.py and tests/test_load.py.
"""

from __future__ import annotations

import base64
import io
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import requests
from PIL import Image
from requests.adapters import HTTPAdapter
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileURLs, UploadedFileInfo
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from urllib3.util.retry import Retry
from websockets.sync.client import connect

XSRF_COOKIE = "_streamlit_xsrf"
_DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}


class AppError(RuntimeError):
    """The app answered with an exception, a compile error, or not at all."""


@dataclass
class Run:
    """What one script run sent: its elements in order, and timings (seconds from the request)."""

    elements: list[Element] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # when each element arrived
    seconds: float = 0.0  # until the run finished

    def of_kind(self, kind: str) -> list[Element]:
        return [e for e in self.elements if e.WhichOneof("type") == kind]

    def image_urls(self) -> list[str]:
        return [img.url for e in self.of_kind("imgs") for img in e.imgs.imgs]

    def images(self) -> list[tuple[str, float]]:
        """(media URL, arrival in seconds) of each image of the run, in page order."""
        return [
            (img.url, t)
            for e, t in zip(self.elements, self.arrivals, strict=True)
            if e.WhichOneof("type") == "imgs"
            for img in e.imgs.imgs
        ]

    def errors(self) -> list[str]:
        """Exception boxes and st.error messages of the run."""
        found = [f"{e.exception.type}: {e.exception.message}" for e in self.of_kind("exception")]
        return found + [e.alert.body for e in self.of_kind("alert") if e.alert.format == e.alert.ERROR]

    def text(self) -> str:
        """All markdown, captions and alerts of the run, for assertions on what the user reads."""
        parts = [e.markdown.body for e in self.of_kind("markdown")] + [e.alert.body for e in self.of_kind("alert")]
        return "\n".join(parts + [e.heading.body for e in self.of_kind("heading")])


@dataclass
class _Widget:
    id: str
    kind: str
    fragment_id: str
    proto: object


class AppClient:
    """One session of the app at `base_url` (http://host:port), like one browser tab."""

    def __init__(self, base_url: str, timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        # Like a browser, retry a request once its kept-alive connection turns out to have been closed.
        retry = Retry(total=3, connect=3, read=3, status=0, allowed_methods=None, backoff_factor=0.05)
        self.http.mount("http://", HTTPAdapter(max_retries=retry))
        self.http.get(f"{self.base_url}/_stcore/health", timeout=timeout).raise_for_status()
        self.xsrf = self.http.cookies.get(XSRF_COOKIE, "")
        host = urlsplit(self.base_url).netloc
        cookie = f"{XSRF_COOKIE}={self.xsrf}" if self.xsrf else None
        self._ws_context = connect(
            f"ws://{host}/_stcore/stream",
            subprotocols=["streamlit", self.xsrf or "_"],
            origin=self.base_url,
            additional_headers={"Cookie": cookie} if cookie else None,
            max_size=64 * 2**20,
            open_timeout=timeout,
            compression=None,
            proxy=None,
        )
        self.ws = self._ws_context.__enter__()  # websockets >= 17 wants connect() entered as a context
        self.session_id = ""
        self.page = ""
        self.widgets: dict[str, _Widget] = {}  # by user key (the id's suffix) and by id
        self.states: dict[str, WidgetState] = {}  # the values this session has set, by widget id
        self.slider_values: dict[str, float] = {}  # each slider's value as the browser would show it, by id
        self._shown: set[str] = set()  # ids of the widgets on the page now
        self._last_upload: dict[str, FileURLs] = {}

    # --- running the script -------------------------------------------------------------------------------------

    def open(self, page: str = "") -> Run:
        """Open a page by its URL path ('' for the default page), keeping the widgets' values (the sidebar's)."""
        self.page = page
        return self._rerun()

    def set(self, key: str, state: WidgetState) -> Run:
        """Give the widget with user key `key` a new value and rerun (only its fragment when it lives in one)."""
        widget = self.widget(key)
        state.id = widget.id
        self.states[widget.id] = state
        if state.HasField("double_array_value") and widget.kind == "slider":
            self.slider_values[widget.id] = state.double_array_value.data[0]
        return self._rerun(widget.fragment_id)

    def set_slider(self, key: str, value: float) -> Run:
        state = WidgetState()
        state.double_array_value.data[:] = [float(value)]
        return self.set(key, state)

    def set_options(self, key: str, labels: list[str]) -> Run:
        """A segmented control or pills: its selected options, by their shown labels."""
        state = WidgetState()
        state.string_array_value.data[:] = labels
        return self.set(key, state)

    def set_string(self, key: str, value: str) -> Run:
        """A selectbox, by its shown label."""
        state = WidgetState()
        state.string_value = value
        return self.set(key, state)

    def upload(self, key: str, name: str, data: bytes, mime: str = "image/png") -> Run:
        """Upload one file into the file uploader `key` (replacing the previous one) and rerun."""
        widget = self.widget(key)
        request = BackMsg()
        request.file_urls_request.request_id = uuid.uuid4().hex
        request.file_urls_request.session_id = self.session_id
        request.file_urls_request.file_names.append(name)
        self.ws.send(request.SerializeToString())
        urls = self._await(lambda m: m.HasField("file_urls_response")).file_urls_response
        if urls.error_msg:
            raise AppError(f"the server refused the upload: {urls.error_msg}")
        target = urls.file_urls[0]
        headers = {"X-Xsrftoken": self.xsrf} if self.xsrf else {}
        response = self.http.put(
            self._url(target.upload_url), files={"file": (name, data, mime)}, headers=headers, timeout=self.timeout
        )
        response.raise_for_status()
        state = WidgetState()
        info = UploadedFileInfo(name=name, size=len(data), file_id=target.file_id)
        info.file_urls.CopyFrom(target)
        state.file_uploader_state_value.uploaded_file_info.append(info)
        old = self._last_upload.get(widget.id)
        if old is not None:  # the browser deletes a replaced file
            self.http.delete(self._url(old.delete_url), headers=headers, timeout=self.timeout)
        self._last_upload[widget.id] = target
        return self.set(key, state)

    def widget(self, key: str) -> _Widget:
        """The widget with user key `key` (or element id) in the latest run."""
        try:
            return self.widgets[key]
        except KeyError:
            known = sorted(k for k in self.widgets if not k.startswith("$$"))
            raise AppError(f"no widget with key {key!r} on page {self.page!r}; keys: {known}") from None

    def slider_range(self, key: str) -> tuple[float, float, float]:
        """(min, max, step) of a slider."""
        proto = self.widget(key).proto
        return proto.min, proto.max, proto.step

    def slider_value(self, key: str) -> float:
        """The slider's value as this session's browser would show it (set here, or last set by the script)."""
        return self.slider_values[self.widget(key).id]

    def fetch_image(self, url: str) -> np.ndarray:
        """An image of the app (a media file, or inline as a data: URI) as a greyscale uint8 array."""
        if url.startswith("data:"):
            content = base64.b64decode(url.split(",", 1)[1])
        else:
            response = self.http.get(self._url(url), timeout=self.timeout)
            response.raise_for_status()
            content = response.content
        return np.asarray(Image.open(io.BytesIO(content)).convert("L"))

    def close(self) -> None:
        self._ws_context.__exit__(None, None, None)
        self.http.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- protocol ------------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _rerun(self, fragment_id: str = "") -> Run:
        msg = BackMsg()
        client = msg.rerun_script
        client.query_string = ""
        client.page_name = self.page
        client.fragment_id = fragment_id
        client.widget_states.widgets.extend(self._current_states())
        client.context_info.timezone = "UTC"
        client.context_info.locale = "en-US"
        client.context_info.url = f"{self.base_url}/{self.page}"
        start = time.perf_counter()
        self.ws.send(msg.SerializeToString())
        run = Run()
        while True:
            m = self._receive(start)
            kind = m.WhichOneof("type")
            if kind == "new_session":
                self.session_id = m.new_session.initialize.session_id or self.session_id
                run = Run()  # a full rerun (also after st.rerun) starts the page afresh
                self._shown = set()
            elif kind == "delta" and m.delta.WhichOneof("type") == "new_element":
                element = m.delta.new_element
                run.elements.append(element)
                run.arrivals.append(time.perf_counter() - start)
                self._note_widget(element, m.delta.fragment_id)
            elif kind == "script_finished":
                if m.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise AppError(f"page {self.page!r} did not compile")
                if m.script_finished in _DONE:
                    run.seconds = time.perf_counter() - start
                    return run
                run = Run()  # finished early for a rerun: the next run follows
            elif kind == "session_event" and m.session_event.HasField("script_compilation_exception"):
                raise AppError(m.session_event.script_compilation_exception.message)

    def _current_states(self) -> list[WidgetState]:
        """What the browser sends: the values set here, and every slider shown at its current value."""
        states = dict(self.states)
        for widget_id, value in self.slider_values.items():  # the script may have moved a slider since
            if widget_id in self._shown:
                state = WidgetState(id=widget_id)
                state.double_array_value.data[:] = [value]
                states[widget_id] = state
        return list(states.values())

    def _note_widget(self, element: Element, fragment_id: str) -> None:
        kind = element.WhichOneof("type")
        proto = getattr(element, kind)
        element_id = getattr(proto, "id", "")
        if not element_id or kind in ("imgs", "markdown", "heading"):
            return
        widget = _Widget(element_id, kind, fragment_id, proto)
        self._shown.add(element_id)
        if kind == "slider" and (proto.set_value or element_id not in self.slider_values):
            # The script sends a value only when it changed it (st.session_state); else the browser keeps its own.
            self.slider_values[element_id] = (proto.value if proto.set_value else proto.default)[0]
        self.widgets[element_id] = widget
        parts = element_id.split("-", 2)  # '$$ID-<hash>-<user key>' ('None' without a key)
        if len(parts) == 3 and parts[2] != "None":
            self.widgets[parts[2]] = widget

    def _await(self, match) -> ForwardMsg:
        start = time.perf_counter()
        while True:
            m = self._receive(start)
            if match(m):
                return m

    def _receive(self, start: float) -> ForwardMsg:
        left = self.timeout - (time.perf_counter() - start)
        if left <= 0:
            raise AppError(f"no answer from the app within {self.timeout:.0f} s")
        try:
            data = self.ws.recv(timeout=left)
        except TimeoutError:
            raise AppError(f"no answer from the app within {self.timeout:.0f} s") from None
        m = ForwardMsg()
        m.ParseFromString(data)
        return m
