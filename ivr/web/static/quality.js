// The call page: the transcript follows the player (the word being said is highlighted) and a click
// on a word seeks there; the timeline's speaker turns are laid out from their times. Positions are set
// through the CSSOM (the console's CSP allows no inline style attributes).
"use strict";

(function () {
  const player = document.getElementById("player");
  const words = Array.from(document.querySelectorAll("#transcript .word"));
  const timeline = document.getElementById("timeline");
  if (!player) return;

  const duration = parseFloat(timeline.dataset.duration) || 1;
  timeline.querySelectorAll(".turn").forEach((turn) => {
    const start = parseFloat(turn.dataset.start);
    const end = parseFloat(turn.dataset.end);
    turn.style.left = `${(100 * start) / duration}%`;
    turn.style.width = `${Math.max(0.3, (100 * (end - start)) / duration)}%`;
    turn.addEventListener("click", () => { player.currentTime = start; player.play(); });
  });

  // The word being said, or in the short pause after it the one just said (so the highlight does not
  // flicker between words); none once the speaker has been quiet for a while.
  const LINGER_SECONDS = 0.6;
  let current = null;
  function highlight() {
    const now = player.currentTime;
    const said = words.filter((w) => parseFloat(w.dataset.start) <= now);
    const last = said.length ? said[said.length - 1] : null;
    const word = last && now < parseFloat(last.dataset.end) + LINGER_SECONDS ? last : null;
    if (word === current) return;
    if (current) current.classList.remove("current");
    if (word) word.classList.add("current");
    current = word;
  }

  player.addEventListener("timeupdate", highlight);
  player.addEventListener("seeked", highlight);
  words.forEach((word) => {
    word.addEventListener("click", () => {
      player.currentTime = parseFloat(word.dataset.start);
      player.play().catch(() => {});
    });
  });
})();
