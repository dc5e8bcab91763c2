// 🖌 Region: paint over a picture, say what goes there, send the mask to the bot's server (bot/webapp.py).
// Works inside Telegram (MainButton, BackButton, theme, initData) and in a plain browser (a visible Send button);
// Telegram's telegram-web-app.js is loaded only when Telegram opened the page, and the page works without it.
"use strict";

(() => {
  const TELEGRAM_JS = "https://telegram.org/js/telegram-web-app.js";
  const TELEGRAM_WAIT_MS = 4000;
  const PAINT = "#ff3b30";
  const search = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = `?job=${encodeURIComponent(search.get("job") || "")}&pic=${encodeURIComponent(search.get("pic") || "")}`;
  const $ = (id) => document.getElementById(id);
  const app = $("app"), stage = $("stage"), frame = $("frame"), picture = $("picture"), canvas = $("paint");
  const size = $("size"), cursor = $("cursor"), promptBox = $("prompt"), statusLine = $("status"), sendButton = $("send");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });

  let tg = null; // Telegram.WebApp, when there
  let initData = "";
  let texts = {};
  let width = 0, height = 0;
  const ops = []; // strokes, clears and inverts in order: undo drops the last, the mask is drawn again from them
  let stroke = null;
  let sending = false;

  // ---- Telegram, optional --------------------------------------------------------------------------------
  function openedByTelegram() {
    return hash.has("tgWebAppData") || hash.has("tgWebAppVersion");
  }

  function loadTelegram() {
    if (!openedByTelegram()) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = () => resolve((window.Telegram && window.Telegram.WebApp) || null);
      const script = document.createElement("script");
      script.src = TELEGRAM_JS;
      script.onload = done;
      script.onerror = done;
      setTimeout(done, TELEGRAM_WAIT_MS); // offline or blocked: go on without it
      document.head.appendChild(script);
    });
  }

  function applyTheme() {
    let theme = tg && tg.themeParams;
    if (!theme || !Object.keys(theme).length) {
      try {
        theme = JSON.parse(hash.get("tgWebAppThemeParams") || "{}");
      } catch (_) {
        theme = {};
      }
    }
    for (const [key, value] of Object.entries(theme)) {
      document.documentElement.style.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
    }
    if (tg && tg.colorScheme) document.documentElement.style.colorScheme = tg.colorScheme;
  }

  // ---- the server ----------------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const response = await fetch(path + query, {
      ...options,
      headers: { Authorization: `tma ${initData}`, ...(options.headers || {}) },
    });
    let body = {};
    if ((response.headers.get("Content-Type") || "").includes("json")) body = await response.json();
    return { response, body };
  }

  function say(text, error = false) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", error);
  }

  function haptic(kind) {
    if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred(kind);
  }

  // ---- layout --------------------------------------------------------------------------------------------
  function layout() {
    if (!width) return;
    const scale = Math.min(stage.clientWidth / width, stage.clientHeight / height);
    frame.style.width = `${Math.floor(width * scale)}px`;
    frame.style.height = `${Math.floor(height * scale)}px`;
    picture.style.width = frame.style.width;
    picture.style.height = frame.style.height;
  }

  function translate() {
    document.querySelectorAll("[data-text]").forEach((node) => {
      node.textContent = texts[node.dataset.text] || "";
    });
    promptBox.placeholder = texts.prompt || "";
    document.title = texts.title || document.title;
    canvas.setAttribute("aria-label", texts.hint || "");
  }

  // ---- painting ------------------------------------------------------------------------------------------
  function brush() {
    return Number(size.value) * (width / canvas.getBoundingClientRect().width); // screen px -> picture px
  }

  function at(event) {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * width) / box.width, ((event.clientY - box.top) * height) / box.height];
  }

  function render() {
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, width, height);
    for (const op of ops) {
      if (op.type === "clear") {
        ctx.clearRect(0, 0, width, height);
      } else if (op.type === "invert") {
        ctx.globalCompositeOperation = "xor"; // painted -> clear, clear -> painted
        ctx.fillStyle = PAINT;
        ctx.fillRect(0, 0, width, height);
        ctx.globalCompositeOperation = "source-over";
      } else {
        ctx.strokeStyle = PAINT;
        ctx.lineWidth = op.size;
        ctx.lineCap = "round";
        ctx.lineJoin = "round";
        ctx.beginPath();
        const [x0, y0] = op.points[0];
        ctx.moveTo(x0, y0);
        if (op.points.length === 1) ctx.lineTo(x0 + 0.01, y0); // a tap paints a dot
        for (const [x, y] of op.points.slice(1)) ctx.lineTo(x, y);
        ctx.stroke();
      }
    }
    refreshTools();
  }

  function refreshTools() {
    $("undo").disabled = ops.length === 0 || sending;
    $("clear").disabled = ops.length === 0 || ops[ops.length - 1].type === "clear" || sending;
    let inverted = false;
    for (const op of ops) {
      if (op.type === "invert") inverted = !inverted;
      if (op.type === "clear") inverted = false;
    }
    $("invert").setAttribute("aria-pressed", String(inverted));
  }

  function showCursor(event) {
    if (event.pointerType !== "mouse") return;
    const box = frame.getBoundingClientRect();
    cursor.hidden = false;
    cursor.style.left = `${event.clientX - box.left}px`;
    cursor.style.top = `${event.clientY - box.top}px`;
    cursor.style.width = cursor.style.height = `${size.value}px`;
  }

  function bindPainting() {
    canvas.addEventListener("pointerdown", (event) => {
      if (sending) return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      promptBox.blur();
      if (statusLine.classList.contains("error")) say(""); // "paint first" is answered by painting
      stroke = { type: "stroke", size: brush(), points: [at(event)] };
      ops.push(stroke);
      render();
    });
    canvas.addEventListener("pointermove", (event) => {
      showCursor(event);
      if (!stroke) return;
      for (const e of event.getCoalescedEvents ? event.getCoalescedEvents() : [event]) stroke.points.push(at(e));
      render();
    });
    const end = () => {
      stroke = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("pointerleave", () => {
      cursor.hidden = true;
    });
    $("undo").addEventListener("click", () => {
      ops.pop();
      render();
    });
    $("clear").addEventListener("click", () => {
      ops.push({ type: "clear" });
      render();
    });
    $("invert").addEventListener("click", () => {
      ops.push({ type: "invert" });
      render();
    });
    const showSize = () => {
      const dot = Math.max(8, Math.min(36, Number(size.value) / 2 + 4));
      $("dot").style.width = $("dot").style.height = `${dot}px`;
    };
    size.addEventListener("input", showSize);
    showSize();
  }

  // ---- sending -------------------------------------------------------------------------------------------
  function mask() {
    // Opaque where painted, as white on black at the picture's own size: what the server and the engine read.
    const image = ctx.getImageData(0, 0, width, height);
    const px = image.data;
    let painted = 0;
    for (let i = 0; i < px.length; i += 4) {
      const on = px[i + 3] >= 128;
      if (on) painted += 1;
      px[i] = px[i + 1] = px[i + 2] = on ? 255 : 0;
      px[i + 3] = 255;
    }
    const out = document.createElement("canvas");
    out.width = width;
    out.height = height;
    out.getContext("2d").putImageData(image, 0, 0);
    return { painted, blob: new Promise((resolve) => out.toBlob(resolve, "image/png")) };
  }

  function busy(on) {
    sending = on;
    sendButton.disabled = on;
    promptBox.disabled = on;
    if (tg) {
      if (on) tg.MainButton.showProgress(false);
      else tg.MainButton.hideProgress();
    }
    refreshTools();
  }

  async function send() {
    if (sending) return;
    const { painted, blob } = mask();
    if (!painted) {
      say(texts.empty, true);
      haptic("error");
      return;
    }
    busy(true);
    say(texts.sending);
    try {
      const form = new FormData();
      form.append("prompt", promptBox.value);
      form.append("mask", await blob, "mask.png");
      const { response, body } = await api("api/region", { method: "POST", body: form });
      if (!response.ok) throw new Error(body.message || texts.failed);
      say(body.message || texts.sent);
      haptic("success");
      if (tg) setTimeout(() => tg.close(), 1200);
      else sendButton.hidden = true;
    } catch (error) {
      say(error.message || texts.failed, true);
      haptic("error");
      busy(false);
    }
  }

  // ---- start ---------------------------------------------------------------------------------------------
  async function start() {
    tg = await loadTelegram();
    initData = (tg && tg.initData) || hash.get("tgWebAppData") || "";
    applyTheme();
    if (tg) {
      tg.ready();
      tg.expand();
      // A downward stroke must paint, not close the Mini App (Telegram 7.7+ closes it on a vertical swipe).
      if (tg.disableVerticalSwipes) tg.disableVerticalSwipes();
      if (tg.setHeaderColor) tg.setHeaderColor("bg_color");
      tg.BackButton.show();
      tg.BackButton.onClick(() => tg.close());
      if (tg.onEvent) tg.onEvent("viewportChanged", layout);
    }
    const session = await api("api/session");
    if (!session.response.ok) {
      app.classList.remove("loading");
      say(session.body.message || `${session.response.status}`, true);
      return;
    }
    ({ texts, width, height } = session.body);
    document.documentElement.lang = session.body.locale;
    translate();
    const file = await fetch(`api/picture${query}`, { headers: { Authorization: `tma ${initData}` } });
    if (!file.ok) {
      app.classList.remove("loading");
      say(texts.failed, true);
      return;
    }
    picture.src = URL.createObjectURL(await file.blob());
    await picture.decode();
    canvas.width = width;
    canvas.height = height;
    layout();
    window.addEventListener("resize", layout);
    bindPainting();
    promptBox.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        promptBox.blur(); // closes the phone's keyboard; sending is the main button's job
      }
    });
    if (tg) {
      tg.MainButton.setParams({ text: texts.send, is_visible: true, is_active: true });
      tg.MainButton.onClick(send);
    } else {
      sendButton.hidden = false;
      sendButton.addEventListener("click", send);
    }
    app.classList.remove("loading");
    app.dataset.ready = "true"; // for tests and for anyone scripting the page
    render();
  }

  start().catch((error) => {
    app.classList.remove("loading");
    say(String((error && error.message) || error), true);
  });
})();
