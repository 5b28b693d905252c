"""hotline: an IVR and contact-centre backend for insurers, on Asterisk."""
