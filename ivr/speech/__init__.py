"""Speech processing for call recordings: no database, no Celery, no Flask, no Asterisk (docs/speech.md).

- ``audio``: check a recording, convert it to what the recognizer takes, voice activity, stereo playback copy;
- ``engine``: the Vosk model (one per process) and recognition, skipping silence;
- ``turns``: words and the conversation's turns;
- ``analytics``: talk, silence and overtalk times, script adherence, keywords, digit redaction.
"""
