"""Hand-written fakes of the platforms' servers, run on 127.0.0.1 for the real SDKs to talk to."""
