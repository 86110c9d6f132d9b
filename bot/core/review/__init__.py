"""The daily picture: supplier scorecards (`scorecard`), the once-a-day review claim
(`daily`) and who opened the App Home (`home`)."""
