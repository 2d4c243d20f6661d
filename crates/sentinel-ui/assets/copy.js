// Copy buttons: a <button class="copy" data-copy="text"> puts its text on
// the clipboard. Pages work without this script; the command stays
// selectable in its <code> beside the button.
//
// navigator.clipboard exists only in secure contexts (HTTPS, localhost);
// over plain HTTP on another host the command's <code> is selected and
// copied the old way, or left selected for Ctrl+C.
(function () {
  function flash(button, text, done) {
    var label = button.textContent;
    button.textContent = text;
    if (done) button.classList.add("copied");
    setTimeout(function () {
      button.textContent = label;
      button.classList.remove("copied");
    }, 1500);
  }

  function copyBySelection(button) {
    var holder = button.closest(".command");
    var code = holder && holder.querySelector("code");
    if (!code) return false;
    var range = document.createRange();
    range.selectNodeContents(code);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    return copied;
  }

  function fallback(button) {
    var copied = copyBySelection(button);
    flash(button, copied ? "Copied" : "Press Ctrl+C", copied);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { flash(button, "Copied", true); },
        function () { fallback(button); }
      );
    } else {
      fallback(button);
    }
  });
})();
