"""The telephony layer: knows Asterisk (AGI, FastAGI, AMI), nothing of insurance."""
