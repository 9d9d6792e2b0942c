"""Methods with a student in the loop: the student is trained and evaluated inside the method."""
