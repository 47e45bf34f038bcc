"""Operations: the checks a person would run by hand (channel health, freshness), run by the pipeline itself."""
