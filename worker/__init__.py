"""Dramatiq workers: broker set-up, actors and the housekeeping that feeds them."""
