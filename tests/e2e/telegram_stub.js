// A stand-in for Telegram's telegram-web-app.js in tests: the same names the page uses, read from the same launch
// parameters (the URL fragment), and a record of what the page asked of Telegram (window.__telegram).
(() => {
  const hash = new URLSearchParams(location.hash.slice(1));
  const record = (window.__telegram = { closed: false, expanded: false, ready: false, haptics: [], backShown: false });
  let mainClick = null;
  const MainButton = {
    text: "",
    isVisible: false,
    isActive: true,
    isProgressVisible: false,
    setParams(params) {
      if ("text" in params) this.text = params.text;
      if ("is_visible" in params) this.isVisible = params.is_visible;
      if ("is_active" in params) this.isActive = params.is_active;
      return this;
    },
    onClick(callback) {
      mainClick = callback;
      return this;
    },
    showProgress() {
      this.isProgressVisible = true;
      return this;
    },
    hideProgress() {
      this.isProgressVisible = false;
      return this;
    },
    press() {
      if (mainClick && this.isVisible && this.isActive) mainClick();
    },
  };
  let theme = {};
  try {
    theme = JSON.parse(hash.get("tgWebAppThemeParams") || "{}");
  } catch (_) {}
  window.Telegram = {
    WebApp: {
      initData: hash.get("tgWebAppData") || "",
      version: hash.get("tgWebAppVersion") || "",
      platform: hash.get("tgWebAppPlatform") || "",
      themeParams: theme,
      colorScheme: "dark",
      MainButton,
      BackButton: {
        show() {
          record.backShown = true;
        },
        onClick() {},
      },
      HapticFeedback: {
        notificationOccurred(kind) {
          record.haptics.push(kind);
        },
      },
      ready() {
        record.ready = true;
      },
      expand() {
        record.expanded = true;
      },
      disableVerticalSwipes() {
        record.swipesOff = true;
      },
      setHeaderColor(color) {
        record.header = color;
      },
      close() {
        record.closed = true;
      },
      onEvent() {},
    },
  };
})();
