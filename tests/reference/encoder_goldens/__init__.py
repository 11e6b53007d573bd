"""The encoder goldens: fixed images and seeded weights, shared by `make_encoder_goldens.py`
(which runs the reference implementations) and the tests (which run p2pbench's encoders)."""
