/**
 * Plain English prose written for this project (so it is in no model's training data), used to
 * measure FP32-vs-INT8 agreement at every position of real text rather than on a few prompts.
 */
export const SAMPLE_TEXT = `The library opened at nine, but the line had started long before. Most of the people waiting were students with heavy bags and tired eyes, and a few were older readers who came every morning for the newspapers. When the doors finally moved, nobody rushed. They walked in slowly, as if the building deserved a little respect.

Inside, the air was cool and smelled of paper and old wood. The librarian at the front desk knew almost everyone by name. She asked one boy about his exam and reminded a woman that her books were late again, though she said it kindly. Behind her, a cart full of returned novels waited to be sorted, and a small radio played music so quietly that it could barely be heard.

On the second floor there was a long table by the window where the light was best. It was the most popular place in the room, and people who wanted it had to arrive early. That morning a man in a grey coat sat at the end of the table with a stack of maps. He was trying to plan a journey across the mountains, and he wrote careful notes in a small black notebook. Every few minutes he stopped, looked out of the window, and then went back to his work.

The history of the town was kept in a room at the back. Few visitors went there, because the records were old and difficult to read. Yet the room held the answers to many questions: when the bridge was built, why the river changed its course, and who had owned the fields before the houses came. A retired teacher spent her afternoons there, copying the oldest letters into a computer so that they would not be lost.

By noon the building was full. Children from a nearby school arrived for a reading lesson, and their voices filled the lower hall. The librarian smiled and asked them to speak softly, and for a while they did. Outside, it had begun to rain, and the sound of the water on the windows made the room feel even warmer. Nobody seemed in a hurry to leave.`;
