// Video page: chapter buttons seek the player through its postMessage API (YouTube IFrame API commands,
// Vimeo player API) or set a <video> file's time; the current chapter is highlighted in the list and the
// transcript. Without the player's network the chapters and transcript still read and highlight.
(function () {
  "use strict";
  var player = document.querySelector(".kb-player");
  if (!player) return;
  var provider = player.getAttribute("data-provider");
  var frame = player.querySelector("iframe.kb-frame");
  var video = player.querySelector("video.kb-frame");
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".kb-chapter"));
  var parts = Array.prototype.slice.call(document.querySelectorAll(".kb-transcript-part"));
  var starts = buttons.map(function (button) { return Number(button.getAttribute("data-start")); });

  function highlight(index) {
    buttons.forEach(function (button, i) {
      if (i === index) button.setAttribute("aria-current", "true"); else button.removeAttribute("aria-current");
    });
    parts.forEach(function (part, i) { part.classList.toggle("current", i === index); });
  }

  function chapterAt(seconds) {
    var index = 0;
    starts.forEach(function (start, i) { if (seconds >= start) index = i; });
    return index;
  }

  function post(message) {
    if (!frame || !frame.contentWindow) return;
    var origin = new URL(frame.src).origin;
    frame.contentWindow.postMessage(JSON.stringify(message), origin);
  }

  function seek(seconds) {
    if (video) { video.currentTime = seconds; video.play().catch(function () {}); return; }
    if (provider === "youtube") {
      post({ event: "command", func: "seekTo", args: [seconds, true] });
      post({ event: "command", func: "playVideo", args: [] });
    } else if (provider === "vimeo") {
      post({ method: "setCurrentTime", value: seconds });
      post({ method: "play" });
    }
  }

  buttons.forEach(function (button, index) {
    button.addEventListener("click", function () {
      highlight(index);
      seek(starts[index]);
    });
  });

  // Follow playback: the players report their time back by postMessage once asked to.
  if (frame) {
    frame.addEventListener("load", function () {
      if (provider === "youtube") post({ event: "listening", id: "kb-player" });
      if (provider === "vimeo") post({ method: "addEventListener", value: "timeupdate" });
    });
    window.addEventListener("message", function (event) {
      if (event.source !== frame.contentWindow) return;
      var data = event.data;
      try { data = typeof data === "string" ? JSON.parse(data) : data; } catch (error) { return; }
      var seconds = null;
      if (data && data.info && typeof data.info.currentTime === "number") seconds = data.info.currentTime;
      if (data && data.event === "timeupdate" && data.data) seconds = data.data.seconds;
      if (typeof seconds === "number") highlight(chapterAt(seconds));
    });
  }
  if (video) video.addEventListener("timeupdate", function () { highlight(chapterAt(video.currentTime)); });
})();
